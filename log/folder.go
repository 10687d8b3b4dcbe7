package log

import (
	"fmt"
	"strings"
)

// FolderMux routes system events to the module that owns their type: an
// event of type "ws.create" goes to the folder registered for "ws". Sync
// entries go to the one change folder. The daemon builds one mux from every
// module and uses it for replay.
type FolderMux struct {
	Change func(b *Batch, ws string, version uint64, rec *ChangeRecord) error
	system map[string]func(b *Batch, seq uint64, ev *SystemEvent) error
}

// Handle registers fold for system events whose type is domain or starts
// with domain + ".".
func (m *FolderMux) Handle(domain string, fold func(b *Batch, seq uint64, ev *SystemEvent) error) {
	if m.system == nil {
		m.system = map[string]func(*Batch, uint64, *SystemEvent) error{}
	}
	if _, dup := m.system[domain]; dup {
		panic("log: FolderMux: duplicate domain " + domain)
	}
	m.system[domain] = fold
}

// FoldChange implements Folder.
func (m *FolderMux) FoldChange(b *Batch, ws string, version uint64, rec *ChangeRecord) error {
	if m.Change == nil {
		return fmt.Errorf("log: no folder for sync entries")
	}
	return m.Change(b, ws, version, rec)
}

// FoldSystem implements Folder.
func (m *FolderMux) FoldSystem(b *Batch, seq uint64, ev *SystemEvent) error {
	domain, _, _ := strings.Cut(ev.Type, ".")
	fold, ok := m.system[domain]
	if !ok {
		return fmt.Errorf("log: no folder for system event type %q", ev.Type)
	}
	return fold(b, seq, ev)
}

var _ Folder = (*FolderMux)(nil)
