package engine

// The synced tables of sync-contract §1.1, in snapshot order (sorted).
var allTables = []string{"file_meta", "kv", "messages", "notifications", "posts", "projects", "threads"}

var tableSet = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range allTables {
		m[t] = true
	}
	return m
}()

// Tables returns the allowlisted table names, sorted.
func Tables() []string { return append([]string(nil), allTables...) }

// ValidTable reports whether t is an allowlisted table.
func ValidTable(t string) bool { return tableSet[t] }

// PKField is the payload field holding a table's primary key.
func PKField(table string) string {
	if table == "file_meta" {
		return "hash"
	}
	return "id"
}

const tableNotifications = "notifications"
