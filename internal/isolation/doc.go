// Package isolation holds the workspace-isolation property test: random
// users, workspaces, roles and operations through syncd's HTTP endpoints,
// asserting that no user ever reads or changes data of a workspace they
// are not a member of, viewers never write, and notifications never leak
// across users.
package isolation
