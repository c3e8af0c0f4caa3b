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
	"github.com/berty-go/berty/internal/device"
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
	none bool
}

func (o *passOpts) flags(f *pflag.FlagSet, withNone bool) {
	f.StringVar(&o.file, "passphrase-file", "", "read the passphrase that unlocks the data directory from this file (its first line): for daemons started unattended; keep the file off the disk the data directory is on")
	f.IntVar(&o.fd, "passphrase-fd", -1, "read the passphrase from this file descriptor, inherited open (its first line), e.g. --passphrase-fd 3 3<secret")
	if withNone {
		f.BoolVar(&o.none, "no-passphrase", false, "a new account without a passphrase: its key is stored unprotected, and whoever copies the data directory reads it (needed when there is no terminal to ask on and no --passphrase-file)")
	}
}

// ErrNewNeedsPassphrase: a new account, no way to ask for a passphrase,
// and no --no-passphrase.
var ErrNewNeedsPassphrase = errors.New("a new account needs a passphrase to lock its data: run on a terminal to be asked, or give --passphrase-file or --passphrase-fd, or --no-passphrase to keep its key unprotected")

// source is how the commands that open the database get the passphrase:
// from --passphrase-file or --passphrase-fd if given (required is then
// true: a key file that has none is refused, it may have been swapped),
// else on the terminal if stdin is one in the foreground, else none — a
// new account then needs --no-passphrase, and a locked one says how to
// give it. The file or descriptor is read now, before anything else opens.
func (o *passOpts) source(dir string, errw io.Writer) (pass atrest.PassFunc, required bool, err error) {
	if o.file != "" && o.fd >= 0 {
		return nil, false, usagef("--passphrase-file and --passphrase-fd: give one")
	}
	if o.none && (o.file != "" || o.fd >= 0) {
		return nil, false, usagef("--no-passphrase and a passphrase: give one")
	}
	if o.file != "" || o.fd >= 0 {
		var p []byte
		if o.file != "" {
			p, err = readPassFile(o.file)
		} else {
			p, err = readPassFD(o.fd)
		}
		if err != nil {
			return nil, false, err
		}
		return func(bool) ([]byte, error) { return append([]byte(nil), p...), nil }, true, nil
	}
	if !foreground(os.Stdin) {
		return func(create bool) ([]byte, error) {
			if create && !o.none {
				return nil, ErrNewNeedsPassphrase
			}
			return nil, atrest.ErrNeedPassphrase
		}, false, nil
	}
	errw = promptWriter(errw)
	return func(create bool) ([]byte, error) {
		if create {
			if o.none {
				return nil, nil
			}
			fmt.Fprintf(errw, "berty encrypts this new account's data in %s.\n", dir)
			return askNew(errw, "Choose a passphrase to unlock it (empty: none, anyone with the directory reads it): ")
		}
		return ask(errw, fmt.Sprintf("Passphrase for %s: ", dir))
	}, false, nil
}

// once asks pass at most once and gives the same answer after.
func once(pass atrest.PassFunc) atrest.PassFunc {
	var p []byte
	var err error
	asked := false
	return func(create bool) ([]byte, error) {
		if !asked {
			p, err = pass(create)
			asked = true
		}
		return append([]byte(nil), p...), err
	}
}

// given says a passphrase flag was given.
func (o *passOpts) given() bool { return o.file != "" || o.fd >= 0 }

func readPassFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--passphrase-file: %v", err)
	}
	defer f.Close()
	return firstLine(f, "--passphrase-file")
}

func readPassFD(fd int) ([]byte, error) {
	// A descriptor the program opened itself (the Go runtime keeps some,
	// close-on-exec, as every file Go opens) is not one the caller handed
	// over: reading it would take a file's first line as the passphrase.
	if err := inheritedFD(fd); err != nil {
		return nil, usagef("--passphrase-fd %d: %v", fd, err)
	}
	f := os.NewFile(uintptr(fd), "passphrase-fd")
	if f == nil {
		return nil, usagef("--passphrase-fd %d: not an open file descriptor", fd)
	}
	defer f.Close()
	if term.IsTerminal(fd) {
		return nil, usagef("--passphrase-fd %d is a terminal: it would echo the passphrase (run without the flag to be asked)", fd)
	}
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
	case errors.Is(err, device.ErrUnprotectedKey):
		return exitError{code: exitRefused, err: err}
	case errors.Is(err, atrest.ErrNeedPassphrase), errors.Is(err, ErrNewNeedsPassphrase):
		return exitError{code: exitUsage, err: err}
	}
	return err
}

// accountDB is the database of the account in dir, for the verbs that work
// on a stopped device's files, and what its key file says protects it.
func accountDB(dir string) (db string, kind atrest.Kind, err error) {
	if err := checkData(dir); err != nil {
		return "", 0, err
	}
	db = filepath.Join(dir, daemon.DBFile)
	kind, ok, err := atrest.Status(db)
	if err != nil {
		return "", 0, err
	}
	if !ok {
		return "", 0, exitError{code: exitNotFound, err: fmt.Errorf("%s holds no account key: start the daemon once to create the account", dir)}
	}
	return db, kind, nil
}

// lockOffline takes the data directory as the daemon does: exit 3 if a
// daemon holds it.
func lockOffline(dir string) (unlock func(), err error) {
	unlock, err = daemon.Lock(dir)
	if errors.Is(err, daemon.ErrRunning) {
		return nil, exitError{code: exitNoDaemon, err: err}
	}
	return unlock, err
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
copy of berty.db.key still opens the database with the old passphrase, and a
passphrase set on a directory that had none keeps its data key: the old,
unprotected key file may remain in the disk's free blocks, where forensic
tools find it. Choose the passphrase when the account is made (the first start
asks for it), and use full-disk encryption.`,
		Example: "  berty passphrase\n  berty passphrase --data /tmp/alice --new-passphrase-file ~/secret\n  berty passphrase --remove",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, kind, err := accountDB(dir)
			if err != nil {
				return err
			}
			params := atrest.DefaultParams
			if argonMiB > 0 {
				if argonMiB > atrest.MaxMemoryKiB>>10 {
					return usagef("--argon-memory is at most %d MiB", atrest.MaxMemoryKiB>>10)
				}
				params.MemoryKiB = argonMiB << 10
			}
			if argonT > 0 {
				params.Time = argonT
			}
			if err := params.Check(); err != nil {
				return usagef("%v", err)
			}
			// The passphrases are read before anything opens: a descriptor
			// number must be the caller's, not the lock file's.
			errw := promptWriter(cmd.ErrOrStderr())
			oldPass, _, err := old.source(dir, errw)
			if err != nil {
				return err
			}
			oldPass = once(oldPass)
			if kind == atrest.Passphrase && !old.given() && !foreground(os.Stdin) {
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
			case foreground(os.Stdin):
				if kind == atrest.Passphrase {
					// Check the current one first: asking the new one twice
					// for nothing is unkind.
					if _, _, err := atrest.Unlock(db, oldPass); err != nil {
						return passErr(err)
					}
				}
				if next, err = askNew(errw, "New passphrase (empty: none): "); err != nil {
					return err
				}
			default:
				return usagef("no terminal to ask the new passphrase on: give --new-passphrase-file, or --remove")
			}
			unlock, err := lockOffline(dir)
			if err != nil {
				return err
			}
			defer unlock()
			got, err := atrest.Change(db, oldPass, next, params)
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
	old.flags(f, false)
	f.Uint32Var(&argonMiB, "argon-memory", 0, "Argon2id memory in MiB (default 64; at most 256, and passes × memory at most 4 times the default's)")
	f.Uint32Var(&argonT, "argon-passes", 0, "Argon2id passes (default 3; at most 16)")
	return c
}

// checkCmd is `berty check`: read every page of a stopped device's
// database and check it.
func checkCmd() *cobra.Command {
	var (
		dir  string
		pass passOpts
	)
	c := &cobra.Command{
		Use:   "check",
		Short: "Read every page of the data directory's database and check it (the daemon stopped)",
		Long: `check opens the account's database as the daemon does (asking for the passphrase
if it has one), reads every page — each one's checksum is verified as it is
decrypted — and runs SQLite's integrity check. A page modified outside berty, or
corrupted by the disk, is reported (exit 1). It changes nothing but what the
daemon's next start would (a log left by a crash is folded into the database).
Run it while no daemon uses the data directory.`,
		Example: "  berty check --data /tmp/alice\n  berty check --passphrase-file ~/.config/berty-pass",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, _, err := accountDB(dir)
			if err != nil {
				return err
			}
			p, required, err := pass.source(dir, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			unlock, err := lockOffline(dir)
			if err != nil {
				return err
			}
			defer unlock()
			st, err := device.OpenStore(device.Config{Path: db, Passphrase: p, RequirePassphrase: required})
			if err != nil {
				return passErr(err)
			}
			defer st.Close()
			if err := st.Check(); err != nil {
				return err
			}
			fi, err := os.Stat(db)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "ok: every page of %s (%d KiB) read and checked\n", db, fi.Size()>>10)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&dir, "data", daemon.DefaultDir(), "data directory; $BERTY_DATA sets the default")
	pass.flags(f, false)
	return c
}
