package messenger

import (
	"database/sql"
	"fmt"

	"github.com/berty-go/berty/store"
)

// rebuildBatch is how many messages one rebuild transaction projects.
const rebuildBatch = 2000

// Progress reports a rebuild's advance: done of total messages.
type Progress func(done, total int)

// Rebuild drops the messenger's tables and projects every stored message
// again, in batches, reporting progress. The store must not be committing
// meanwhile through an older projector whose statements name dropped
// tables: the store serialises both, and New installs the projector after. The protocol's logs are the source
// of truth: the tables come back identical. The node may run meanwhile —
// new messages are projected by their own commits, and a batch that
// meets them skips them.
func (m *Messenger) Rebuild(progress Progress) error {
	var total int
	err := m.st.Update(func(tx *sql.Tx) error {
		if err := dropTables(tx); err != nil {
			return err
		}
		if err := createSchema(tx); err != nil {
			return err
		}
		return tx.QueryRow(`SELECT count(*) FROM messages`).Scan(&total)
	})
	if err != nil {
		return fmt.Errorf("rebuild: %w", err)
	}
	if progress != nil {
		progress(0, total)
	}
	// In rowid order, which is the order messages were stored in: a delete
	// then meets the text it scrubs either way (both orders are handled).
	var after int64 = -1
	done := 0
	for {
		n := 0
		err := m.st.Update(func(tx *sql.Tx) error {
			rows, err := tx.Query(`SELECT rowid, topic, device, seq, member, lamport, entry_id, own, body FROM messages WHERE rowid > ? ORDER BY rowid LIMIT ?`, after, rebuildBatch)
			if err != nil {
				return err
			}
			var batch []store.Message
			for rows.Next() {
				var msg store.Message
				var topic, dev, member, id []byte
				if err := rows.Scan(&after, &topic, &dev, &msg.Seq, &member, &msg.Lamport, &id, &msg.Own, &msg.Body); err != nil {
					rows.Close()
					return err
				}
				copy(msg.Topic[:], topic)
				copy(msg.Device[:], dev)
				copy(msg.Member[:], member)
				copy(msg.ID[:], id)
				batch = append(batch, msg)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			n = len(batch)
			st, err := prepare(tx.Prepare)
			if err != nil {
				return err
			}
			defer st.close()
			return project(tx, st, batch)
		})
		if err != nil {
			return fmt.Errorf("rebuild: %w", err)
		}
		done += n
		if progress != nil && n > 0 {
			progress(min(done, total), total)
		}
		if n < rebuildBatch {
			err := m.st.Update(func(tx *sql.Tx) error {
				_, err := tx.Exec(`UPDATE m_meta SET value = ? WHERE key = 'schema'`, schemaVersion)
				return err
			})
			if err != nil {
				return fmt.Errorf("rebuild: %w", err)
			}
			return m.IndexPending()
		}
	}
}
