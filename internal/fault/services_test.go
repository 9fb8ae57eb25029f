package fault_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/kineticsec/kinetic/internal/testwait"
)

// The fault tests start their own PostgreSQL and Redis servers, so they can
// restart, crash and flush them without disturbing the other packages'
// tests, which share the machine's servers.

// redisServer is a private redis-server child process with an append-only
// file fsynced on every write, so a crash and restart keeps the data (a
// restart), while FLUSHALL loses it (a flush).
type redisServer struct {
	bin, dir string
	port     int
	cmd      *exec.Cmd
	done     chan struct{}
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (Debian package redis-server): %v", err)
	}
	r := &redisServer{bin: bin, dir: t.TempDir(), port: freePort(t)}
	if err := r.start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.kill() })
	return r
}

func (r *redisServer) Addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

func (r *redisServer) start() error {
	r.cmd = exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "yes", "--appendfsync", "always", "--dir", r.dir, "--daemonize", "no",
		"--logfile", filepath.Join(r.dir, "redis.log"))
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	r.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(r.cmd, r.done)
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer func() { _ = c.Close() }()
	return poll(30*time.Second, "redis to answer PING", func() bool { return c.Ping(context.Background()).Err() == nil })
}

// crashRestart kills the server with SIGKILL and starts it again on the
// same port and files.
func (r *redisServer) crashRestart() error {
	r.kill()
	return r.start()
}

func (r *redisServer) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		<-r.done
	}
}

func (r *redisServer) flushAll() error {
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer func() { _ = c.Close() }()
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		return fmt.Errorf("FLUSHALL: %w", err)
	}
	return nil
}

// pgServer is a private PostgreSQL cluster (initdb into a temporary
// directory, pg_ctl start on a free port), run as the postgres user when
// the tests run as root, as PostgreSQL insists.
type pgServer struct {
	bin, dir string
	port     int
	runAs    string
}

func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	bin := postgresBin(t)
	dir, err := os.MkdirTemp("", "kinetic-fault-pg-")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgServer{bin: bin, dir: dir, port: freePort(t)}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root and there is no postgres user to run PostgreSQL as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		p.runAs = "postgres"
	}
	t.Cleanup(func() {
		_ = p.ctl("stop", "-m", "immediate", "-w").Run()
		_ = os.RemoveAll(dir)
	})
	if out, err := p.command(filepath.Join(bin, "initdb"), "-D", p.data(), "-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if err := p.start(); err != nil {
		t.Fatal(err)
	}
	if out, err := p.command(filepath.Join(bin, "createdb"), "-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", "postgres", "kinetic").CombinedOutput(); err != nil {
		t.Fatalf("createdb: %v\n%s", err, out)
	}
	return p
}

func (p *pgServer) data() string { return filepath.Join(p.dir, "data") }

// DSN is the kinetic database's.
func (p *pgServer) DSN() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/kinetic?sslmode=disable", p.port)
}

func (p *pgServer) command(name string, args ...string) *exec.Cmd {
	if p.runAs != "" {
		return exec.Command("runuser", append([]string{"-u", p.runAs, "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

func (p *pgServer) ctl(args ...string) *exec.Cmd {
	return p.command(filepath.Join(p.bin, "pg_ctl"), append([]string{"-D", p.data(), "-l", filepath.Join(p.dir, "postgres.log")}, args...)...)
}

func (p *pgServer) start() error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=300 -F", p.port, p.dir)
	if out, err := p.ctl("start", "-w", "-t", "60", "-o", opts).CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl start: %w\n%s", err, out)
	}
	return nil
}

// crashRestart stops PostgreSQL in immediate mode — every backend killed,
// no checkpoint, crash recovery at the next start, as after a crash — and
// starts it again.
func (p *pgServer) crashRestart() error {
	if out, err := p.ctl("stop", "-m", "immediate", "-w").CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %w\n%s", err, out)
	}
	return p.start()
}

func postgresBin(t *testing.T) string {
	t.Helper()
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := string(out[:len(out)-1])
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i]
		}
	}
	t.Fatal("PostgreSQL server binaries (initdb, pg_ctl) not found (Debian package postgresql)")
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

// poll checks cond until it holds or within passes (testwait.Until), and
// says which as an error, so the fault harness can report it with its logs.
func poll(within time.Duration, what string, cond func() bool) error {
	if !testwait.Until(within, cond) {
		return fmt.Errorf("timed out after %s waiting for %s", within, what)
	}
	return nil
}
