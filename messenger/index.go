package messenger

import (
	"database/sql"
	"fmt"
	"time"
)

// Full-text indexing runs off the commit path: the projection writes one row
// per message in the protocol's transaction, and the indexer adds the texts
// to m_search afterwards, in batches, behind a cursor (m_meta 'indexed': the
// last messages rowid indexed) kept in the same transactions. Search and
// Rebuild catch up first, so a search always sees every stored message.
// Batches stay small so a commit never waits long behind one.
const (
	indexBatch = 500
	indexQuiet = 300 * time.Millisecond // after the last commit
	indexMax   = 2 * time.Second        // under a steady stream
)

// IndexPending indexes every stored text not indexed yet.
func (m *Messenger) IndexPending() error {
	for {
		n, err := m.indexSome(indexBatch)
		if err != nil || n < indexBatch {
			return err
		}
	}
}

// indexSome indexes up to limit messages after the cursor and returns how
// many it read.
func (m *Messenger) indexSome(limit int) (int, error) {
	n := 0
	err := m.st.Update(func(tx *sql.Tx) error {
		var cursor int64
		if err := tx.QueryRow(`SELECT value FROM m_meta WHERE key = 'indexed'`).Scan(&cursor); err != nil {
			return err
		}
		rows, err := tx.Query(`SELECT rowid, body FROM messages WHERE rowid > ? ORDER BY rowid LIMIT ?`, cursor, limit)
		if err != nil {
			return err
		}
		type doc struct {
			rowid int64
			text  string
		}
		var docs []doc
		for rows.Next() {
			var rowid int64
			var body []byte
			if err := rows.Scan(&rowid, &body); err != nil {
				rows.Close()
				return err
			}
			n++
			cursor = rowid
			if r, _ := decode(body); r.searchs && r.body.String != "" {
				docs = append(docs, doc{rowid, r.body.String})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		ins, err := tx.Prepare(`INSERT INTO m_search(rowid, body) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		for _, d := range docs {
			if _, err := ins.Exec(d.rowid, d.text); err != nil {
				return err
			}
		}
		_, err = tx.Exec(`UPDATE m_meta SET value = ? WHERE key = 'indexed'`, cursor)
		return err
	})
	if err != nil {
		return n, fmt.Errorf("index messages: %w", err)
	}
	return n, nil
}

// runIndexer indexes new texts once commits pause (or every indexMax under
// a steady stream) until Close.
func (m *Messenger) runIndexer() {
	defer close(m.indexed)
	var quiet, max <-chan time.Time
	for {
		select {
		case <-m.stop:
			return
		case <-m.dirty:
			quiet = time.After(indexQuiet)
			if max == nil {
				max = time.After(indexMax)
			}
			continue
		case <-quiet:
		case <-max:
		}
		quiet, max = nil, nil
		for {
			n, err := m.indexSome(indexBatch)
			if err != nil || n < indexBatch {
				break // an error shows at the next Search, which indexes too
			}
			select {
			case <-m.stop:
				return
			default:
			}
		}
	}
}

// Close stops the background indexer. It is idempotent.
func (m *Messenger) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		<-m.indexed
	})
	return nil
}
