// Package hostile holds the hostile-client tests: a real syncd child
// process (the binary, its own settings and HTTP server) attacked over
// loopback by clients that trickle headers, send bodies that never end,
// hold thousands of idle connections, send pathological JSON and guess
// tokens. Each test asserts the server cuts the client off within its
// configured bound and stays healthy for everyone else.
package hostile
