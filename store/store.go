package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/sirupsen/logrus"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialects a Store can speak.
const (
	DialectPostgres = "postgres"
	DialectSQLite   = "sqlite"
)

// Store wraps the gorm DB.
//
// On SQLite the pool holds exactly one connection (SQLite has a single
// writer, and one connection avoids SQLITE_BUSY lock-upgrade deadlocks).
// Consequence for callers: while a transaction is open, every other use of
// the Store waits for it, so code running inside a transaction must use the
// transaction's handle only — opening a second transaction or querying
// through Store.Conn from inside one deadlocks.
type Store struct {
	// db is the gorm handle. Outside store, the engine reaches it through
	// Conn and Tx, tests through TestDB; everyone else calls named methods.
	db *gorm.DB
	// Dialect is DialectPostgres or DialectSQLite.
	Dialect string

	log *logrus.Entry
	// chain is the background audit chainer (PostgreSQL only; see
	// StageAudit).
	chain *chainer
}

// Options says which database to open.
type Options struct {
	// Driver is "postgres" or "sqlite". Empty means "postgres" when DSN is
	// set and "sqlite" otherwise.
	Driver string
	// DSN is the PostgreSQL connection string (URL or key=value form).
	DSN string
	// Path is the SQLite database file; its directory is created if
	// missing and a new file is created readable by its owner only. It is a
	// plain path, not a URI.
	Path string
	// Log receives gorm's warnings and failed or slow statements (without
	// their parameter values). Nil means silent.
	Log *logrus.Entry
}

// Pool and timing defaults.
const (
	pgMaxOpenConns    = 20
	pgMaxIdleConns    = 10
	pgConnMaxLifetime = 30 * time.Minute
	pgConnMaxIdleTime = 5 * time.Minute
	slowQuery         = 500 * time.Millisecond
	// sqliteBusyTimeoutMS is how long SQLite waits on another process's
	// lock before failing with SQLITE_BUSY.
	sqliteBusyTimeoutMS = 10000
)

// Open opens the database described by o and checks that it answers. It
// does not migrate; call Migrate.
//
// Times are stored at microsecond precision and read back in UTC, so a
// time round-trips to the same instant on both dialects: gorm's
// CreatedAt/UpdatedAt are UTC microseconds; PostgreSQL's timestamptz keeps
// the instant; on SQLite, which stores times as text and compares them as
// text, every time.Time parameter is converted to UTC microseconds before
// it is bound. Errors never contain the DSN's password.
func Open(ctx context.Context, o Options) (*Store, error) {
	drv := o.Driver
	if drv == "" {
		drv = DialectSQLite
		if o.DSN != "" {
			drv = DialectPostgres
		}
	}
	log := o.Log
	var gl logger.Interface = logger.Discard
	if log != nil {
		gl = &gormLogger{log: log, level: logger.Warn}
	}
	gcfg := &gorm.Config{
		Logger:  gl,
		NowFunc: utcNow,
	}
	switch drv {
	case DialectPostgres:
		return openPostgres(ctx, o.DSN, gcfg, log)
	case DialectSQLite:
		return openSQLite(ctx, o.Path, gcfg, log)
	default:
		return nil, fmt.Errorf("store: unknown driver %q (want %q or %q)", o.Driver, DialectPostgres, DialectSQLite)
	}
}

// utcNow is gorm's clock: UTC, microseconds.
func utcNow() time.Time { return normTime(time.Now()) }

// normTime is how every stored time is normalised: UTC, truncated to the
// microsecond PostgreSQL keeps.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func openPostgres(ctx context.Context, dsn string, gcfg *gorm.Config, log *logrus.Entry) (*Store, error) {
	if dsn == "" {
		return nil, errors.New("store: postgres needs a DSN")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx redacts the password in its message, but the error keeps the
		// raw connection string in a field: never wrap it.
		return nil, errors.New("store: parse postgres DSN: " + redactSecret(err.Error(), passwordOf(dsn)))
	}
	password := cfg.Password
	if _, ok := cfg.RuntimeParams["timezone"]; !ok {
		cfg.RuntimeParams["timezone"] = "UTC"
	}
	sqlDB := stdlib.OpenDB(*cfg, stdlib.OptionAfterConnect(func(_ context.Context, c *pgx.Conn) error {
		// Scan timestamptz into UTC rather than time.Local.
		c.TypeMap().RegisterType(&pgtype.Type{
			Name:  "timestamptz",
			OID:   pgtype.TimestamptzOID,
			Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
		})
		return nil
	}))
	sqlDB.SetMaxOpenConns(pgMaxOpenConns)
	sqlDB.SetMaxIdleConns(pgMaxIdleConns)
	sqlDB.SetConnMaxLifetime(pgConnMaxLifetime)
	sqlDB.SetConnMaxIdleTime(pgConnMaxIdleTime)

	// No gorm PrepareStmt: pgx already prepares and caches every statement
	// per connection, and gorm's own cache would survive schema changes
	// badly ("cached plan must not change result type").
	gcfg.DisableAutomaticPing = true // we ping with ctx below
	db, err := gorm.Open(postgres.New(postgres.Config{Conn: sqlDB}), gcfg)
	if err != nil {
		_ = sqlDB.Close()
		return nil, redactErr("store: open postgres", err, password)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, redactErr("store: connect to postgres", err, password)
	}
	s := &Store{db: db, Dialect: DialectPostgres, log: log}
	s.startChainer()
	return s, nil
}

// passwordOf digs the password out of a DSN that pgx could not parse, so it
// can be redacted even then.
func passwordOf(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			userinfo := rest[:at]
			if c := strings.Index(userinfo, ":"); c >= 0 {
				return userinfo[c+1:]
			}
		}
		return ""
	}
	for _, f := range strings.Fields(dsn) {
		if v, ok := strings.CutPrefix(f, "password="); ok {
			return strings.Trim(v, "'")
		}
	}
	return ""
}

// redactSecret replaces every occurrence of secret in s.
func redactSecret(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "xxxxx")
}

// redactErr prefixes err with what and flattens it: the message has the
// password removed, and the chain is cut (pgx's errors keep the whole
// connection config, password included, in their fields) except for a
// context error, which callers may want to recognise.
func redactErr(what string, err error, password string) error {
	msg := what + ": " + redactSecret(err.Error(), password)
	for _, sentinel := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, sentinel) {
			return &flatError{msg: msg, cause: sentinel}
		}
	}
	return errors.New(msg)
}

// flatError is a message plus one safe cause to unwrap to.
type flatError struct {
	msg   string
	cause error
}

func (e *flatError) Error() string { return e.msg }
func (e *flatError) Unwrap() error { return e.cause }

func openSQLite(ctx context.Context, path string, gcfg *gorm.Config, log *logrus.Entry) (*Store, error) {
	if path == "" {
		return nil, errors.New("store: sqlite needs a path")
	}
	if strings.Contains(path, "?") {
		return nil, fmt.Errorf("store: sqlite path %q must not contain '?'", path)
	}
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			return nil, fmt.Errorf("store: sqlite: %w", err)
		}
		// The file holds personal data: create it owner-only before SQLite
		// creates it with the umask's permissions.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("store: sqlite: %w", err)
		}
		_ = f.Close()
	}
	dsn := path + "?" + strings.Join([]string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", sqliteBusyTimeoutMS),
		"_pragma=journal_mode(WAL)",
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous(NORMAL)",
		// BEGIN IMMEDIATE: a transaction takes the write lock up front, so
		// two processes never deadlock upgrading read locks.
		"_txlock=immediate",
	}, "&")
	sqlDB := sql.OpenDB(sqliteConnector{dsn: dsn, drv: &gosqlite.Driver{}})
	sqlDB.SetMaxOpenConns(1)
	sqlDB.SetMaxIdleConns(1)
	sqlDB.SetConnMaxLifetime(0)
	sqlDB.SetConnMaxIdleTime(0)
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	db, err := gorm.Open(sqlite.Dialector{Conn: sqlDB}, gcfg)
	if err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("store: open sqlite %s: %w", path, err)
	}
	return &Store{db: db, Dialect: DialectSQLite, log: log}, nil
}

// sqliteConnector opens glebarez/go-sqlite connections wrapped in utcConn.
type sqliteConnector struct {
	dsn string
	drv *gosqlite.Driver
}

func (c sqliteConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.dsn)
	if err != nil {
		return nil, err
	}
	full, ok := conn.(sqliteConn)
	if !ok {
		_ = conn.Close()
		return nil, fmt.Errorf("store: sqlite driver connection %T lacks context methods", conn)
	}
	return utcConn{full}, nil
}

func (c sqliteConnector) Driver() driver.Driver { return c.drv }

// sqliteConn is what glebarez/go-sqlite's connection implements.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
}

// utcConn normalises every time.Time parameter to UTC microseconds. SQLite
// stores times as text and compares them as text, so a parameter in another
// zone (a local-time clock in a WHERE clause) would compare wrongly against
// stored UTC values.
type utcConn struct{ sqliteConn }

// CheckNamedValue implements driver.NamedValueChecker.
func (utcConn) CheckNamedValue(nv *driver.NamedValue) error {
	v, err := driver.DefaultParameterConverter.ConvertValue(nv.Value)
	if err != nil {
		return err
	}
	if t, ok := v.(time.Time); ok {
		v = normTime(t)
	}
	nv.Value = v
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Close stops the audit chainer, chains what is still pending (for at most
// five seconds; what is left, the next chainer or reader chains) and
// closes the connection pool.
func (s *Store) Close() error {
	if s.chain != nil {
		s.stopChainer()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _ = s.ChainPending(ctx)
		cancel()
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// txAttempts is how many times Tx runs fn on PostgreSQL when the database
// aborts it for a serialization failure or deadlock.
const txAttempts = 5

// Tx runs fn in a transaction: committed if fn returns nil, rolled back if
// it returns an error or panics. On PostgreSQL, when the transaction fails
// with a serialization failure (40001) or a deadlock (40P01), the whole of
// fn runs again, at most five attempts in all, after a short jittered
// pause; fn must therefore have no effects outside tx. fn must use tx, never
// s.db (on SQLite that deadlocks; see Store).
func (s *Store) Tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	for attempt := 1; ; attempt++ {
		err := s.db.WithContext(ctx).Transaction(fn)
		if err == nil {
			s.wakeChainer() // fn may have staged audit events
		}
		if err == nil || s.Dialect != DialectPostgres || attempt >= txAttempts || !isRetryableTx(err) {
			return err
		}
		if s.log != nil {
			s.log.WithError(err).WithField("attempt", attempt).Debug("store: retrying transaction")
		}
		pause := time.Duration(attempt)*10*time.Millisecond + rand.N(10*time.Millisecond)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func isRetryableTx(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// SQLite extended result codes for unique violations.
const (
	sqliteConstraintPrimaryKey = 1555 // SQLITE_CONSTRAINT_PRIMARYKEY
	sqliteConstraintUnique     = 2067 // SQLITE_CONSTRAINT_UNIQUE
)

// IsUniqueViolation reports whether err is a unique-constraint violation:
// PostgreSQL's 23505, SQLite's SQLITE_CONSTRAINT_UNIQUE or
// SQLITE_CONSTRAINT_PRIMARYKEY, or gorm.ErrDuplicatedKey. It looks through
// wrapping.
func IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var sqErr *gosqlite.Error
	if errors.As(err, &sqErr) {
		return sqErr.Code() == sqliteConstraintUnique || sqErr.Code() == sqliteConstraintPrimaryKey
	}
	return false
}

// gormLogger sends gorm's messages to logrus. Statements are logged without
// their parameter values (they carry personal data), failed ones at warn
// unless the failure is one callers expect and handle (not found, unique
// violation, cancelled, retryable), slow ones at warn.
type gormLogger struct {
	log   *logrus.Entry
	level logger.LogLevel
}

func (l *gormLogger) LogMode(level logger.LogLevel) logger.Interface {
	c := *l
	c.level = level
	return &c
}

func (l *gormLogger) Info(_ context.Context, msg string, args ...any) {
	if l.level >= logger.Info {
		l.log.Infof(msg, args...)
	}
}

func (l *gormLogger) Warn(_ context.Context, msg string, args ...any) {
	if l.level >= logger.Warn {
		l.log.Warnf(msg, args...)
	}
}

func (l *gormLogger) Error(_ context.Context, msg string, args ...any) {
	if l.level >= logger.Error {
		l.log.Errorf(msg, args...)
	}
}

func (l *gormLogger) Trace(_ context.Context, begin time.Time, fc func() (string, int64), err error) {
	if l.level <= logger.Silent {
		return
	}
	elapsed := time.Since(begin)
	switch {
	case err != nil && l.level >= logger.Warn && !expectedErr(err):
		q, rows := fc()
		l.log.WithError(err).WithFields(logrus.Fields{
			"sql": q, "rows": rows, "elapsed_ms": elapsed.Milliseconds(),
		}).Warn("store: statement failed")
	case elapsed > slowQuery && l.level >= logger.Warn:
		q, rows := fc()
		l.log.WithFields(logrus.Fields{
			"sql": q, "rows": rows, "elapsed_ms": elapsed.Milliseconds(),
		}).Warn("store: slow statement")
	case l.level >= logger.Info:
		q, rows := fc()
		l.log.WithFields(logrus.Fields{
			"sql": q, "rows": rows, "elapsed_ms": elapsed.Milliseconds(),
		}).Debug("store: statement")
	}
}

// ParamsFilter keeps parameter values out of logged SQL.
func (l *gormLogger) ParamsFilter(_ context.Context, q string, _ ...any) (string, []any) {
	return q, nil
}

func expectedErr(err error) bool {
	return errors.Is(err, gorm.ErrRecordNotFound) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || IsUniqueViolation(err) || isRetryableTx(err)
}
