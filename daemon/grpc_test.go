package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	bv1 "github.com/berty-go/berty/api/bertyv1"
)

// grpcConn is a stock grpc-go client of the daemon's TCP address (h2c).
func grpcConn(t *testing.T, d *testDaemon) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(d.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// withToken is ctx with the bearer token in the call's metadata.
func withToken(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// TestGRPCUnauthenticated: a grpc-go client without the token, or with a
// wrong one, gets UNAUTHENTICATED with a message that says where the token
// is; with it, the call goes through.
func TestGRPCUnauthenticated(t *testing.T) {
	d := startDaemon(t, config(t, filepath.Join(t.TempDir(), "data"), "alice"))
	conn := grpcConn(t, d)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const method = "/berty.v1.NodeService/AccountInfo"
	for _, tc := range []struct {
		name string
		ctx  context.Context
	}{
		{"no token", ctx},
		{"wrong token", withToken(ctx, strings.Repeat("0", len(d.token)))},
	} {
		err := conn.Invoke(tc.ctx, method, &bv1.AccountInfoRequest{}, &bv1.AccountInfoResponse{})
		if st := status.Convert(err); st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), "token file") {
			t.Errorf("%s: got %v, want UNAUTHENTICATED naming the token file", tc.name, err)
		}
	}
	var resp bv1.AccountInfoResponse
	if err := conn.Invoke(withToken(ctx, d.token), method, &bv1.AccountInfoRequest{}, &resp); err != nil {
		t.Fatalf("with the token: %v", err)
	}
	if len(resp.AccountKey) != 32 {
		t.Errorf("account key of %d bytes", len(resp.AccountKey))
	}
}

// TestGRPCReflection lists and calls the services through gRPC server
// reflection with a stock gRPC client, knowing nothing of them beforehand
// (what grpcurl does): the descriptors come from the daemon, the requests
// and responses are dynamic messages built from them.
func TestGRPCReflection(t *testing.T) {
	d := startDaemon(t, config(t, filepath.Join(t.TempDir(), "data"), "alice"))
	conn := grpcConn(t, d)
	ctx, cancel := context.WithTimeout(withToken(t.Context(), d.token), 30*time.Second)
	defer cancel()

	// The reflection service is behind the token too.
	noToken, cancelNoToken := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancelNoToken()
	if _, err := reflectionServices(noToken, rpb.NewServerReflectionClient(conn)); status.Code(err) != codes.Unauthenticated {
		t.Errorf("reflection without the token: got %v, want UNAUTHENTICATED", err)
	}

	refl := rpb.NewServerReflectionClient(conn)
	services, err := reflectionServices(ctx, refl)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"berty.v1.NodeService", "berty.v1.MessengerService"} {
		if !slices.Contains(services, want) {
			t.Errorf("reflection lists %v, without %s", services, want)
		}
	}
	files, err := reflectionFiles(ctx, refl, "berty.v1.NodeService", "berty.v1.MessengerService")
	if err != nil {
		t.Fatal(err)
	}

	out := invokeDynamic(t, ctx, conn, files, "berty.v1.NodeService", "AccountInfo")
	ak := out.Get(out.Descriptor().Fields().ByName("account_key")).Bytes()
	if len(ak) != 32 {
		t.Fatalf("account_key of %d bytes through reflection, want 32", len(ak))
	}
	if want := d.accountKey(t); !bytes.Equal(ak, want) {
		t.Errorf("account_key %x through reflection, %x through the generated client", ak, want)
	}
	if name := out.Get(out.Descriptor().Fields().ByName("name")).String(); name != "alice" {
		t.Errorf("name %q through reflection, want alice", name)
	}

	if _, err := d.c.Node.GroupCreate(t.Context(), &bv1.GroupCreateRequest{Name: "notes"}); err != nil {
		t.Fatal(err)
	}
	out = invokeDynamic(t, ctx, conn, files, "berty.v1.MessengerService", "Conversations")
	convs := out.Get(out.Descriptor().Fields().ByName("conversations")).List()
	if convs.Len() != 1 {
		t.Fatalf("%d conversations through reflection, want 1", convs.Len())
	}
	cv := convs.Get(0).Message()
	if name := cv.Get(cv.Descriptor().Fields().ByName("name")).String(); name != "notes" {
		t.Errorf("conversation %q through reflection, want notes", name)
	}
}

// invokeDynamic calls a unary method with an empty request built from the
// reflected descriptors, and returns the response.
func invokeDynamic(t *testing.T, ctx context.Context, conn *grpc.ClientConn, files *protoregistry.Files, service, method string) *dynamicpb.Message {
	t.Helper()
	d, err := files.FindDescriptorByName(protoreflect.FullName(service))
	if err != nil {
		t.Fatalf("%s is not in the reflected descriptors: %v", service, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		t.Fatalf("%s is a %T, not a service", service, d)
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		t.Fatalf("%s has no method %s", service, method)
	}
	in, out := dynamicpb.NewMessage(md.Input()), dynamicpb.NewMessage(md.Output())
	if err := conn.Invoke(ctx, "/"+service+"/"+method, in, out); err != nil {
		t.Fatalf("%s.%s: %v", service, method, err)
	}
	return out
}

// reflectionServices lists the services through reflection.
func reflectionServices(ctx context.Context, refl rpb.ServerReflectionClient) ([]string, error) {
	stream, err := refl.ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	defer stream.CloseSend()
	// A server that refuses the call may end the stream before the request
	// is sent: Send then says io.EOF and Recv has the status (grpc-go's
	// contract).
	if err := stream.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	if e := resp.GetErrorResponse(); e != nil {
		return nil, status.Error(codes.Code(e.ErrorCode), e.ErrorMessage)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.Name)
	}
	return names, nil
}

// reflectionFiles fetches the files that define the symbols, and the files
// they import, and links them.
func reflectionFiles(ctx context.Context, refl rpb.ServerReflectionClient, symbols ...string) (*protoregistry.Files, error) {
	stream, err := refl.ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	defer stream.CloseSend()
	got := map[string]*descriptorpb.FileDescriptorProto{}
	ask := func(req *rpb.ServerReflectionRequest) error {
		if err := stream.Send(req); err != nil {
			return err
		}
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if e := resp.GetErrorResponse(); e != nil {
			return status.Error(codes.Code(e.ErrorCode), e.ErrorMessage)
		}
		for _, b := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
			fd := new(descriptorpb.FileDescriptorProto)
			if err := proto.Unmarshal(b, fd); err != nil {
				return err
			}
			got[fd.GetName()] = fd
		}
		return nil
	}
	for _, s := range symbols {
		if err := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: s}}); err != nil {
			return nil, err
		}
	}
	// A server may leave out imports it sent before on the stream, or
	// expect them to be asked for: ask for any still missing.
	for missing := true; missing; {
		missing = false
		for _, fd := range got {
			for _, dep := range fd.GetDependency() {
				if got[dep] == nil {
					missing = true
					if err := ask(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_FileByFilename{FileByFilename: dep}}); err != nil {
						return nil, err
					}
					if got[dep] == nil {
						return nil, status.Errorf(codes.NotFound, "reflection did not send %s", dep)
					}
				}
			}
		}
	}
	set := &descriptorpb.FileDescriptorSet{}
	for _, fd := range got {
		set.File = append(set.File, fd)
	}
	return protodesc.NewFiles(set)
}
