package device

import (
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/berty-go/berty/net/p2p"
	"github.com/berty-go/berty/store/sqlite"
)

// A device remembers its network across restarts (docs/protocol.md §10.4),
// in its own database (so that encryption at rest covers it too):
//   - the ports it listened on: a listen address with port 0 takes, at the
//     next start, the port it got the first time, so the addresses its
//     contacts hold (`berty id`, --peer, DHT records) stay good;
//   - its group peers and their last addresses, relayed ones included:
//     dialed at start, before any DHT lookup.
const netSchema = `CREATE TABLE IF NOT EXISTS d_net (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) WITHOUT ROWID`

// maxKnownPeers bounds the peers remembered.
const maxKnownPeers = 256

// netMemory is what a device remembers of its network.
type netMemory struct {
	Listen []string    `json:"listen"`
	Peers  []knownPeer `json:"peers"`
}

type knownPeer struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
	// Nets are the network IDs (hex) it proved it holds: whose mailboxes
	// keep those groups for it while it is away.
	Nets []string `json:"nets,omitempty"`
	Seen int64    `json:"seen"` // Unix seconds
}

func loadNet(st *sqlite.Store) (netMemory, error) {
	var m netMemory
	err := st.Update(func(tx *sql.Tx) error {
		if _, err := tx.Exec(netSchema); err != nil {
			return err
		}
		var v string
		switch err := tx.QueryRow(`SELECT value FROM d_net WHERE key = 'net'`).Scan(&v); err {
		case nil:
			return json.Unmarshal([]byte(v), &m)
		case sql.ErrNoRows:
			return nil
		default:
			return err
		}
	})
	if err != nil {
		return netMemory{}, fmt.Errorf("read the remembered network: %w", err)
	}
	return m, nil
}

func saveNet(st *sqlite.Store, m netMemory) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return st.Update(func(tx *sql.Tx) error {
		if _, err := tx.Exec(netSchema); err != nil {
			return err
		}
		_, err := tx.Exec(`INSERT INTO d_net (key, value) VALUES ('net', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, string(b))
		return err
	})
}

// withRemembered returns the listen addresses with, for each one on port
// 0, the remembered address on the same interface and transport.
func withRemembered(listen, remembered []string) []string {
	out := slices.Clone(listen)
	for i, a := range out {
		m, err := ma.NewMultiaddr(a)
		if err != nil {
			continue
		}
		for _, r := range remembered {
			rm, err := ma.NewMultiaddr(r)
			if err == nil && samePlace(m, rm) {
				out[i] = r
				break
			}
		}
	}
	return out
}

// samePlace reports whether listen (with port 0) and had name the same
// interface address and transport: had is what listen gave before.
func samePlace(listen, had ma.Multiaddr) bool {
	if len(listen) != len(had) {
		return false
	}
	for i := range listen {
		a, b := listen[i], had[i]
		if a.Code() != b.Code() {
			return false
		}
		switch a.Code() {
		case ma.P_TCP, ma.P_UDP:
			if a.Value() != "0" {
				return false // a fixed port: nothing to remember
			}
		default:
			if a.Value() != b.Value() {
				return false
			}
		}
	}
	return true
}

// knownPeers turns remembered peers into what the host dials.
func knownPeers(ps []knownPeer) []p2p.KnownPeer {
	var out []p2p.KnownPeer
	for _, p := range ps {
		id, err := peer.Decode(p.ID)
		if err != nil {
			continue
		}
		kp := p2p.KnownPeer{AddrInfo: peer.AddrInfo{ID: id}}
		for _, a := range p.Addrs {
			if m, err := ma.NewMultiaddr(a); err == nil {
				kp.Addrs = append(kp.Addrs, m)
			}
		}
		for _, n := range p.Nets {
			if b, err := hex.DecodeString(n); err == nil && len(b) == 32 {
				kp.Networks = append(kp.Networks, [32]byte(b))
			}
		}
		if len(kp.Addrs) > 0 {
			out = append(out, kp)
		}
	}
	return out
}

// rememberNet records the host's listen addresses and its group peers,
// merged with the peers remembered before (the most recently seen first,
// at most maxKnownPeers).
func (d *Device) rememberNet() error {
	old, err := loadNet(d.Store)
	if err != nil {
		return err
	}
	now := d.cfg.Node.Now().Unix()
	m := netMemory{Listen: d.Host.ListenAddrs()}
	lastSeen := map[string]int64{}
	for _, p := range old.Peers {
		lastSeen[p.ID] = p.Seen
	}
	seen := map[string]bool{}
	for _, p := range d.Host.KnownPeers() {
		kp := knownPeer{ID: p.ID.String(), Seen: now}
		if !p.Fresh { // remembered, not met again in this run
			s, ok := lastSeen[kp.ID]
			if !ok {
				continue // forgotten since
			}
			kp.Seen = s
		}
		if now-kp.Seen >= int64(rememberFor/time.Second) {
			continue
		}
		for _, a := range p.Addrs {
			kp.Addrs = append(kp.Addrs, a.String())
		}
		for _, n := range p.Networks {
			kp.Nets = append(kp.Nets, hex.EncodeToString(n[:]))
		}
		m.Peers = append(m.Peers, kp)
		seen[kp.ID] = true
	}
	for _, p := range old.Peers {
		if !seen[p.ID] && now-p.Seen < int64(rememberFor/time.Second) {
			m.Peers = append(m.Peers, p)
		}
	}
	slices.SortStableFunc(m.Peers, func(a, b knownPeer) int { return int(b.Seen - a.Seen) })
	if len(m.Peers) > maxKnownPeers {
		m.Peers = m.Peers[:maxKnownPeers]
	}
	return saveNet(d.Store, m)
}

// rememberFor is how long a peer not met again is remembered.
const rememberFor = 30 * 24 * time.Hour

// rememberEvery is how often a running device records its network (and
// it does at Close): a crash loses at most that much.
const rememberEvery = time.Minute
