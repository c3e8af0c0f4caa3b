package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/berty-go/berty/daemon"
	"github.com/berty-go/berty/store/atrest"
)

// maxPassphrase bounds what is read from a passphrase file or descriptor.
const maxPassphrase = 1024

// passOpts are the flags that give the passphrase sealing the database's
// key (docs/protocol.md §8.1). Never argv or the environment, which `ps`
// and /proc show to other users.
type passOpts struct {
	file string
	fd   int
}

func (o *passOpts) flags(f *pflag.FlagSet) {
	f.StringVar(&o.file, "passphrase-file", "", "read the passphrase that unlocks the data directory from this file (its first line): for daemons started unattended; keep the file off the disk the data directory is on")
	f.IntVar(&o.fd, "passphrase-fd", -1, "read the passphrase from this open file descriptor (its first line), e.g. --passphrase-fd 3 3<&0")
}

// passFunc is how the commands that open the database ask for the
// passphrase: from --passphrase-file or --passphrase-fd if given, else on
// the terminal if stdin is one, else not at all (a new directory is then
// unprotected; a locked one refuses to open, saying how to give it).
func (o *passOpts) passFunc(dir string, errw io.Writer) (atrest.PassFunc, error) {
	if o.file != "" && o.fd >= 0 {
		return nil, usagef("--passphrase-file and --passphrase-fd: give one")
	}
	if o.file != "" || o.fd >= 0 {
		var p []byte
		var err error
		if o.file != "" {
			p, err = readPassFile(o.file)
		} else {
			p, err = readPassFD(o.fd)
		}
		if err != nil {
			return nil, err
		}
		return func(bool) ([]byte, error) { return append([]byte(nil), p...), nil }, nil
	}
	if !term.IsTerminal(int(os.Stdin.Fd())) {
		return nil, nil
	}
	errw = promptWriter(errw)
	return func(create bool) ([]byte, error) {
		if create {
			fmt.Fprintf(errw, "berty encrypts this new account's data in %s.\n", dir)
			return askNew(errw, "Choose a passphrase to unlock it (empty: none, anyone with the directory reads it): ")
		}
		return ask(errw, fmt.Sprintf("Passphrase for %s: ", dir))
	}, nil
}

func readPassFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--passphrase-file: %v", err)
	}
	defer f.Close()
	return firstLine(f, "--passphrase-file")
}

func readPassFD(fd int) ([]byte, error) {
	f := os.NewFile(uintptr(fd), "passphrase-fd")
	if f == nil {
		return nil, usagef("--passphrase-fd %d: not an open file descriptor", fd)
	}
	defer f.Close()
	return firstLine(f, fmt.Sprintf("--passphrase-fd %d", fd))
}

// firstLine reads a passphrase: the first line, without its line ending.
func firstLine(r io.Reader, what string) ([]byte, error) {
	b, err := bufio.NewReader(io.LimitReader(r, maxPassphrase+2)).ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, usagef("%s: %v", what, err)
	}
	b = []byte(strings.TrimRight(string(b), "\r\n"))
	if len(b) > maxPassphrase {
		return nil, usagef("%s: a passphrase is at most %d bytes", what, maxPassphrase)
	}
	if len(b) == 0 {
		return nil, usagef("%s: empty passphrase", what)
	}
	return b, nil
}

// promptWriter is where prompts go: stderr, unless it is redirected and
// stdout is the terminal (`berty mini 2>log`).
func promptWriter(errw io.Writer) io.Writer {
	if f, ok := errw.(*os.File); ok && !term.IsTerminal(int(f.Fd())) && term.IsTerminal(int(os.Stdout.Fd())) {
		return os.Stdout
	}
	return errw
}

// ask reads a passphrase on the terminal without echo.
func ask(errw io.Writer, prompt string) ([]byte, error) {
	fmt.Fprint(errw, prompt)
	p, err := term.ReadPassword(int(os.Stdin.Fd()))
	fmt.Fprintln(errw)
	if err != nil {
		return nil, fmt.Errorf("read the passphrase: %w", err)
	}
	if len(p) > maxPassphrase {
		return nil, usagef("a passphrase is at most %d bytes", maxPassphrase)
	}
	return p, nil
}

// askNew asks for a new passphrase twice, until both agree (three tries).
func askNew(errw io.Writer, prompt string) ([]byte, error) {
	for range 3 {
		p, err := ask(errw, prompt)
		if err != nil {
			return nil, err
		}
		if len(p) == 0 {
			return nil, nil
		}
		again, err := ask(errw, "Again: ")
		if err != nil {
			return nil, err
		}
		if string(again) == string(p) {
			return p, nil
		}
		fmt.Fprintln(errw, "The two passphrases differ: again.")
	}
	return nil, usagef("the passphrases differed three times")
}

// passErr gives the errors of unlocking their exit codes.
func passErr(err error) error {
	switch {
	case errors.Is(err, atrest.ErrWrongPassphrase):
		return exitError{code: exitRefused, err: err}
	case errors.Is(err, atrest.ErrNeedPassphrase):
		return exitError{code: exitUsage, err: err}
	}
	return err
}

func passphraseCmd() *cobra.Command {
	var (
		dir              string
		remove           bool
		old              passOpts
		newFile          string
		argonMiB, argonT uint32
	)
	c := &cobra.Command{
		Use:   "passphrase",
		Short: "Set, change or remove the passphrase that unlocks the data directory",
		Long: `The account's database is encrypted at rest with a random data key, kept in
DATA/berty.db.key. Without a passphrase that key is stored unprotected: whoever
copies the data directory reads everything. With one, the key is sealed by a
key derived from the passphrase (Argon2id), and the daemon, mini and device link
ask for it at start (on the terminal, or --passphrase-file / --passphrase-fd).

passphrase reseals the data key: it asks for the current passphrase (if there is
one) and the new one, twice. The database is not rewritten, so it is instant.
Run it while no daemon uses the data directory.

A forgotten passphrase cannot be recovered: the data is lost with it. An old
copy of berty.db.key still opens the database with the old passphrase.`,
		Example: "  berty passphrase\n  berty passphrase --data /tmp/alice --new-passphrase-file ~/secret\n  berty passphrase --remove",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkData(dir); err != nil {
				return err
			}
			db := filepath.Join(dir, daemon.DBFile)
			kind, ok, err := atrest.Status(db)
			if err != nil {
				return err
			}
			if !ok {
				return exitError{code: exitNotFound, err: fmt.Errorf("%s holds no account key: start the daemon once to create the account", dir)}
			}
			unlock, err := daemon.Lock(dir)
			if err != nil {
				if errors.Is(err, daemon.ErrRunning) {
					return exitError{code: exitNoDaemon, err: err}
				}
				return err
			}
			defer unlock()
			errw := promptWriter(cmd.ErrOrStderr())
			oldPass, err := old.passFunc(dir, errw)
			if err != nil {
				return err
			}
			if kind == atrest.Passphrase && oldPass == nil {
				return exitError{code: exitUsage, err: errors.New("the data directory has a passphrase: give the current one on a terminal or with --passphrase-file / --passphrase-fd")}
			}
			var next []byte
			switch {
			case remove && newFile != "":
				return usagef("--remove and --new-passphrase-file: give one")
			case remove:
			case newFile != "":
				if next, err = readPassFile(newFile); err != nil {
					return err
				}
			case term.IsTerminal(int(os.Stdin.Fd())):
				if next, err = askNew(errw, "New passphrase (empty: none): "); err != nil {
					return err
				}
			default:
				return usagef("no terminal to ask the new passphrase on: give --new-passphrase-file, or --remove")
			}
			params := atrest.DefaultParams
			if argonMiB > 0 {
				params.MemoryKiB = argonMiB << 10
			}
			if argonT > 0 {
				params.Time = argonT
			}
			got, err := atrest.Change(db, func(bool) ([]byte, error) {
				if oldPass == nil {
					return nil, atrest.ErrNeedPassphrase
				}
				return oldPass(false)
			}, next, params)
			if err != nil {
				return passErr(err)
			}
			if got == atrest.Passphrase {
				fmt.Fprintln(cmd.OutOrStdout(), "The passphrase is set: it unlocks the data directory from now on.")
			} else {
				fmt.Fprintln(cmd.OutOrStdout(), "The passphrase is removed: the data key is stored unprotected in the data directory.")
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dir, "data", daemon.DefaultDir(), "data directory; $BERTY_DATA sets the default")
	f.BoolVar(&remove, "remove", false, "remove the passphrase (the key is then stored unprotected)")
	f.StringVar(&newFile, "new-passphrase-file", "", "read the new passphrase from this file (its first line)")
	old.flags(f)
	f.Uint32Var(&argonMiB, "argon-memory", 0, "Argon2id memory in MiB (default 64; at most 1024)")
	f.Uint32Var(&argonT, "argon-passes", 0, "Argon2id passes (default 3; at most 16)")
	return c
}
