package engine

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/siltdb/silt/columnar"
)

// Scan calls fn with every point of db.table, merged across segments, frozen
// and active heads (same series and time: the last written value of each
// field wins), sorted by series and time. It materializes the table in
// memory: it serves export, tests and small tables, not analytics (that is
// the query engine's job).
func (e *Engine) Scan(db, table string, fn func(p *columnar.Point) error) error {
	e.mu.Lock()
	var segs []columnar.SegmentMeta
	for _, s := range e.manifest.Segments {
		if s.DB == db && s.Table == table {
			segs = append(segs, s)
		}
	}
	var heads []*columnar.Head
	for _, fs := range e.frozen {
		if h := fs.heads[db][table]; h != nil {
			heads = append(heads, h)
		}
	}
	// The active head changes under writes: copy its points while locked.
	var active []columnar.Point
	if h := e.heads[db][table]; h != nil {
		err := h.Scan(func(p *columnar.Point) error {
			active = append(active, clonePoint(p))
			return nil
		})
		if err != nil {
			e.mu.Unlock()
			return err
		}
	}
	e.mu.Unlock()

	m := newMerger()
	sort.Slice(segs, func(i, j int) bool { return segs[i].ID < segs[j].ID })
	for _, s := range segs {
		seg, err := columnar.OpenSegment(filepath.Join(e.cfg.DataDir, filepath.FromSlash(s.Path)))
		if err != nil {
			return err
		}
		err = seg.Scan(m.add)
		if cerr := seg.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("scan segment %s: %w", s.Path, err)
		}
	}
	for _, h := range heads {
		if err := h.Scan(m.add); err != nil {
			return err
		}
	}
	for i := range active {
		if err := m.add(&active[i]); err != nil {
			return err
		}
	}
	return m.emit(fn)
}

func clonePoint(p *columnar.Point) columnar.Point {
	return columnar.Point{Time: p.Time, Tags: append([]columnar.TagValue(nil), p.Tags...),
		Fields: append([]columnar.FieldValue(nil), p.Fields...)}
}

type merger struct {
	points map[string]*columnar.Point
}

func newMerger() *merger { return &merger{points: map[string]*columnar.Point{}} }

func seriesKey(tags []columnar.TagValue) string {
	var b strings.Builder
	for _, t := range tags {
		b.WriteString(t.Key)
		b.WriteByte(0)
		b.WriteString(t.Value)
		b.WriteByte(0)
	}
	return b.String()
}

func (m *merger) add(p *columnar.Point) error {
	k := fmt.Sprintf("%s\x01%020d", seriesKey(p.Tags), uint64(p.Time)^(1<<63))
	have, ok := m.points[k]
	if !ok {
		c := clonePoint(p)
		m.points[k] = &c
		return nil
	}
	for _, f := range p.Fields {
		replaced := false
		for i := range have.Fields {
			if have.Fields[i].Key == f.Key {
				have.Fields[i] = f
				replaced = true
				break
			}
		}
		if !replaced {
			have.Fields = append(have.Fields, f)
		}
	}
	return nil
}

func (m *merger) emit(fn func(p *columnar.Point) error) error {
	keys := make([]string, 0, len(m.points))
	for k := range m.points {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p := m.points[k]
		sort.Slice(p.Fields, func(i, j int) bool { return p.Fields[i].Key < p.Fields[j].Key })
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}
