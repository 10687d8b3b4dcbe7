package engine

import "github.com/google/uuid"

func newUUIDv4() string { return uuid.NewString() }
