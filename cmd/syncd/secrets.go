package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Files in the data directory that hold secrets (mode 0600).
const (
	tokenFile  = "token"
	secretFile = "cluster-secret"
)

// loadOrCreateToken returns the service token: the configured one when
// given (the token file is then neither read nor written), else the one in
// <dataDir>/token, else a new random token written there. generated is
// true only when this call created it; the caller prints it once.
func loadOrCreateToken(dataDir, configured string, log *slog.Logger) (token string, generated bool, err error) {
	if configured != "" {
		return configured, false, nil
	}
	path := filepath.Join(dataDir, tokenFile)
	data, created, err := loadOrCreate(path, func() ([]byte, error) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		return []byte(base64.RawURLEncoding.EncodeToString(b) + "\n"), nil
	}, log)
	if err != nil {
		return "", false, err
	}
	token = strings.TrimSpace(string(data))
	if len(token) < minTokenLen {
		return "", false, fmt.Errorf("%s holds a token shorter than %d characters", path, minTokenLen)
	}
	return token, created, nil
}

// loadOrCreateSecret returns the cluster secret user ids are derived from
// (model.md §6), kept hex-encoded in <dataDir>/cluster-secret. Every region
// of a cluster needs the same file; losing it changes the id every login
// resolves to.
func loadOrCreateSecret(dataDir string, log *slog.Logger) ([]byte, error) {
	path := filepath.Join(dataDir, secretFile)
	data, _, err := loadOrCreate(path, func() ([]byte, error) {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		return []byte(hex.EncodeToString(b) + "\n"), nil
	}, log)
	if err != nil {
		return nil, err
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(secret) < 16 {
		return nil, fmt.Errorf("%s must hold at least 16 hex-encoded bytes", path)
	}
	return secret, nil
}

// loadOrCreate reads path, or creates it (mode 0600, exclusively, synced
// with its directory) with the bytes gen returns. A file readable by group
// or others is tightened to 0600 with a warning.
func loadOrCreate(path string, gen func() ([]byte, error), log *slog.Logger) (data []byte, created bool, err error) {
	data, err = os.ReadFile(path)
	if err == nil {
		if fi, serr := os.Stat(path); serr == nil && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("secret file readable by others; setting mode 0600", "path", path, "mode", fi.Mode().Perm().String())
			if err := os.Chmod(path, 0o600); err != nil {
				return nil, false, err
			}
		}
		return data, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	if data, err = gen(); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, err
	}
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, false, err
	}
	if dir, err := os.Open(filepath.Dir(path)); err == nil {
		_ = dir.Sync()
		_ = dir.Close()
	}
	return data, true, nil
}
