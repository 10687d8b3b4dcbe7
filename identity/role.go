package identity

// Role is a member's role in a workspace: a closed enum (workspace-admin §0).
// The zero value RoleNone means "not a member".
type Role string

// Roles.
const (
	RoleNone   Role = ""
	RoleViewer Role = "viewer"
	RoleEditor Role = "editor"
	RoleOwner  Role = "owner"
)

// ParseRole returns the role named s, or false when s is not one of owner,
// editor, viewer.
func ParseRole(s string) (Role, bool) {
	switch r := Role(s); r {
	case RoleOwner, RoleEditor, RoleViewer:
		return r, true
	}
	return RoleNone, false
}

// rank orders roles by what they allow: none < viewer < editor < owner.
func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleEditor:
		return 2
	case RoleOwner:
		return 3
	}
	return 0
}

// CanRead reports whether r may read workspace data (any member).
func (r Role) CanRead() bool { return r.rank() >= RoleViewer.rank() }

// CanWrite reports whether r may push sync ops (owner, editor).
func (r Role) CanWrite() bool { return r.rank() >= RoleEditor.rank() }

// CanManage reports whether r may manage invites and delete the workspace
// (owner).
func (r Role) CanManage() bool { return r == RoleOwner }

// maxRole returns the role that allows more.
func maxRole(a, b Role) Role {
	if a.rank() >= b.rank() {
		return a
	}
	return b
}
