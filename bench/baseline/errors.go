package baseline

import "errors"

// ErrUnbounded is returned by a measurement given neither an operation
// count nor a duration: it would run forever.
var ErrUnbounded = errors.New("baseline: neither a count nor a duration bounds the run")

// ErrInvalid is wrapped by the errors that name a bad argument or field, so
// callers can tell a misuse from an IO failure with errors.Is.
var ErrInvalid = errors.New("baseline: invalid argument")
