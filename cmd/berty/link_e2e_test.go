package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	bv1 "github.com/berty-go/berty/api/bertyv1"
	"github.com/berty-go/berty/client"
	"github.com/berty-go/berty/daemon"
)

var deviceLinkURL = regexp.MustCompile(`https://berty\.tech/id#[A-Z0-9]+`)

// TestDeviceLinkCLI: a second device through the CLI alone. `berty device
// link` on an empty directory prints a link; `berty device approve` on
// alice's daemon takes it on stdin (not on its command line: ps shows
// those) and names the new device; the new device then runs as alice's
// account, alice lists it, and `berty device revoke` revokes it.
func TestDeviceLinkCLI(t *testing.T) {
	alice := startDaemon(t, "alice")
	id := alice.id()
	phoneDir := filepath.Join(t.TempDir(), "phone")
	logPath := filepath.Join(t.TempDir(), "phone.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	link := exec.Command(binary(t), "device", "link", "--data", phoneDir, "--device-name", "phone",
		"--peer", id.Listen[0], "--p2p-listen", "/ip4/127.0.0.1/tcp/0", "--no-passphrase")
	stdout, err := link.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	link.Stderr, link.SysProcAttr, link.Env = logf, procAttr, env()
	if err := link.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		link.Process.Kill()
		link.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("the phone's log:\n%s", lastLines(string(b), 30))
		}
	})
	shown := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := deviceLinkURL.FindString(sc.Text()); l != "" {
				shown <- l
			}
		}
	}()
	var url string
	select {
	case url = <-shown:
	case <-time.After(30 * time.Second):
		t.Fatal("berty device link printed no link in 30 s")
	}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	approve := exec.CommandContext(ctx, binary(t), "device", "approve", "--data", alice.dir, "--json")
	// Pasted as a terminal wrapped it: over two lines.
	approve.Stdin, approve.Env = strings.NewReader(url[:50]+"\n"+url[50:]+"\n"), env()
	out, err := approve.Output()
	if err != nil {
		t.Fatalf("berty device approve: %v: %s", err, out)
	}
	var approved struct {
		Approved bool
		Name     string
		Device   string
	}
	if err := json.Unmarshal(out, &approved); err != nil || !approved.Approved || approved.Name != "phone" || len(approved.Device) != 64 {
		t.Fatalf("berty device approve --json printed %s (%v)", out, err)
	}

	// The phone runs as a daemon of alice's account (polling its socket is
	// for process startup only).
	sock := filepath.Join(phoneDir, daemon.SocketFile)
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the linked device has no API socket after 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pc, err := client.Dial(phoneDir)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	info, err := pc.Node.AccountInfo(ctx, &bv1.AccountInfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(info.AccountKey); got != id.Account {
		t.Fatalf("the phone's account is %s, alice's %s", got, id.Account)
	}
	if got := hex.EncodeToString(info.DeviceKey); got != approved.Device {
		t.Errorf("approve named device %s, the phone is %s", approved.Device, got)
	}
	type dev struct {
		Key           string
		Self, Revoked bool
	}
	devices := func() map[string]dev {
		var ds []dev
		alice.cliJSON(&ds, "device", "list")
		m := map[string]dev{}
		for _, d := range ds {
			m[d.Key] = d
		}
		return m
	}
	alice.until("the phone in alice's device list", func() bool { _, ok := devices()[approved.Device]; return ok })
	var revoked struct{ Account string }
	alice.cliJSON(&revoked, "device", "revoke", approved.Device)
	if d := devices()[approved.Device]; !d.Revoked {
		t.Errorf("after berty device revoke, the phone is listed as %+v", d)
	}
	// The account moved to a new key (§5.9): `berty id` shows it and the
	// key it moved from.
	if revoked.Account == "" || revoked.Account == id.Account {
		t.Errorf("berty device revoke --json gives the account key %q (it was %s)", revoked.Account, id.Account)
	}
	if out := alice.cli("id"); !strings.Contains(out, "account  "+revoked.Account) || !strings.Contains(out, "moved from "+id.Account) {
		t.Errorf("berty id after the revocation:\n%s", out)
	}
}
