package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

const postgresEnv = "GENROUTER_TEST_DATABASE_URL"

// TestPostgres runs the shared suite against a real PostgreSQL, each test in
// a fresh schema of its own (dropped afterwards), so that runs never collide.
func TestPostgres(t *testing.T) {
	base := os.Getenv(postgresEnv)
	if base == "" {
		t.Skip("\n" +
			"************************************************************************\n" +
			"*** PostgreSQL tests skipped: set GENROUTER_TEST_DATABASE_URL        ***\n" +
			"*** (eval \"$(.ci/start-postgres.sh | tail -1)\" starts a local one)   ***\n" +
			"************************************************************************")
	}
	runSuite(t, func(t *testing.T) string { return freshSchema(t, base) })
}

// freshSchema creates a schema for one test and returns a URL whose
// connections use it (search_path is passed as a runtime parameter).
func freshSchema(t *testing.T, base string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "gr_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", postgresEnv, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(context.Background())
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

func TestPostgresBadURL(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Nothing listens on port 1: Open fails (quickly) instead of hanging.
	if _, err := Open(ctx, "postgres://u:secretpw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"); err == nil {
		t.Fatal("Open succeeded against a closed port")
	} else if strings.Contains(err.Error(), "secretpw") {
		t.Errorf("error shows the password: %v", err)
	}
}
