package iceberg

import (
	"encoding/json"
	"fmt"

	ig "github.com/apache/iceberg-go"
)

// FormatVersion is the Iceberg table format the tables are written in.
// Version 3, because Silt's time column is a nanosecond timestamp and
// timestamp_ns is a version 3 type: declaring it as a version 2 timestamp
// (microseconds) would misread every data file.
const FormatVersion = 3

// tableMetadata is the table metadata file (the Iceberg spec's "Table
// Metadata" section), as this package writes it. iceberg-go has a builder
// for it in its table package, but that package pulls Arrow compute and
// Substrait into the binary for a JSON document; the fields written here are
// the ones the spec requires for version 3, and the tests parse every
// version with iceberg-go's own reader, which validates it.
type tableMetadata struct {
	FormatVersion      int               `json:"format-version"`
	TableUUID          string            `json:"table-uuid"`
	Location           string            `json:"location"`
	LastSequenceNumber int64             `json:"last-sequence-number"`
	LastUpdatedMS      int64             `json:"last-updated-ms"`
	LastColumnID       int               `json:"last-column-id"`
	Schemas            []json.RawMessage `json:"schemas"`
	CurrentSchemaID    int               `json:"current-schema-id"`
	PartitionSpecs     []json.RawMessage `json:"partition-specs"`
	DefaultSpecID      int               `json:"default-spec-id"`
	LastPartitionID    int               `json:"last-partition-id"`
	Properties         map[string]string `json:"properties"`
	CurrentSnapshotID  *int64            `json:"current-snapshot-id"`
	Snapshots          []snapshot        `json:"snapshots"`
	SnapshotLog        []snapshotLog     `json:"snapshot-log"`
	MetadataLog        []metadataLog     `json:"metadata-log"`
	SortOrders         []sortOrder       `json:"sort-orders"`
	DefaultSortOrderID int               `json:"default-sort-order-id"`
	Refs               map[string]ref    `json:"refs"`
	NextRowID          int64             `json:"next-row-id"`
}

type snapshot struct {
	SnapshotID       int64             `json:"snapshot-id"`
	ParentSnapshotID *int64            `json:"parent-snapshot-id,omitempty"`
	SequenceNumber   int64             `json:"sequence-number"`
	TimestampMS      int64             `json:"timestamp-ms"`
	ManifestList     string            `json:"manifest-list"`
	Summary          map[string]string `json:"summary"`
	SchemaID         int               `json:"schema-id"`
	FirstRowID       int64             `json:"first-row-id"`
	AddedRows        int64             `json:"added-rows"`
}

type snapshotLog struct {
	SnapshotID  int64 `json:"snapshot-id"`
	TimestampMS int64 `json:"timestamp-ms"`
}

type metadataLog struct {
	MetadataFile string `json:"metadata-file"`
	TimestampMS  int64  `json:"timestamp-ms"`
}

type sortOrder struct {
	OrderID int   `json:"order-id"`
	Fields  []any `json:"fields"`
}

type ref struct {
	SnapshotID int64  `json:"snapshot-id"`
	Type       string `json:"type"`
}

// currentSnapshot returns the snapshot current-snapshot-id names, or nil.
func (m *tableMetadata) currentSnapshot() *snapshot {
	if m.CurrentSnapshotID == nil {
		return nil
	}
	for i := range m.Snapshots {
		if m.Snapshots[i].SnapshotID == *m.CurrentSnapshotID {
			return &m.Snapshots[i]
		}
	}
	return nil
}

// schema decodes the schema with the given id.
func (m *tableMetadata) schema(id int) (*ig.Schema, error) {
	for _, raw := range m.Schemas {
		var s ig.Schema
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("decode schema of table metadata: %w", err)
		}
		if s.ID == id {
			return &s, nil
		}
	}
	return nil, fmt.Errorf("table metadata has no schema %d", id)
}
