package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/agent"
	"github.com/rampart-ci/rampart/auth"
	"github.com/rampart-ci/rampart/deploy"
	"github.com/rampart-ci/rampart/findings"
	"github.com/rampart-ci/rampart/forge/git"
	"github.com/rampart-ci/rampart/policy"
	"github.com/rampart-ci/rampart/project"
	"github.com/rampart-ci/rampart/provenance"
	"github.com/rampart-ci/rampart/review"
	"github.com/rampart-ci/rampart/scan/deps"
	"github.com/rampart-ci/rampart/scheduler"
	"github.com/rampart-ci/rampart/secrets"
	"github.com/rampart-ci/rampart/server"
	"github.com/rampart-ci/rampart/store"
)

// serveOptions configure `rampart up` and `rampart server`.
type serveOptions struct {
	addr        string
	dataDir     string
	databaseURL string
	tlsCert     string
	tlsKey      string
	dev         bool // `up`: human-readable logs, a local agent
	leaseTTL    time.Duration
	masterKey   string // --master-key-file
	advisoryDB  string // --advisory-db
	// reviewGrace is --review-grace.
	reviewGrace time.Duration
	// provenanceKey is --provenance-key-file; gatePolicy is --gate-policy.
	provenanceKey string
	gatePolicy    string
}

// addGateFlags adds the flags of the provenance signing key and of the server's gate policy.
func addGateFlags(cmd *cobra.Command, o *serveOptions) {
	cmd.Flags().StringVar(&o.provenanceKey, "provenance-key-file", "", "Ed25519 key that signs artifacts' provenance, made 0600 on first start (default: provenance.key in --data-dir). Servers sharing one database must share this file")
	cmd.Flags().StringVar(&o.gatePolicy, "gate-policy", "", "directory of .rego gate policies (deny and warn rules over input.findings) that pipeline scans must pass on top of the default policy, as with `rampart scan --gate DIR`")
}

// addReviewFlag adds the flag of the grace period of push checks (see review.Config.Grace).
func addReviewFlag(cmd *cobra.Command, o *serveOptions) {
	cmd.Flags().DurationVar(&o.reviewGrace, "review-grace", review.DefaultGrace, "how long after a push to a protected branch its review evidence is checked (the merge webhook may come after the push's)")
}

// addAdvisoryFlag adds the flag of the OSV database that pipeline scans are checked against.
func addAdvisoryFlag(cmd *cobra.Command, o *serveOptions) {
	cmd.Flags().StringVar(&o.advisoryDB, "advisory-db", "", "OSV advisory database that dependency scans in pipelines are checked against (default: where `rampart db update` writes it for this user)")
}

func (a *App) upCommand() *cobra.Command {
	o := &serveOptions{dev: true}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run Rampart for a first try: server and a local agent on embedded SQLite",
		Long: `Run the server on 127.0.0.1:8080 with its data under ./rampart-data (SQLite), and a local agent.
On first start it creates the user admin and prints its password and an admin API token, once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.serve(cmd.Context(), o) },
	}
	cmd.Flags().StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().StringVar(&o.dataDir, "data-dir", "rampart-data", "directory for the database and other state")
	cmd.Flags().StringVar(&o.masterKey, "master-key-file", "", "the vault's key-encryption key file (default: master.key in --data-dir, made on first start)")
	addAdvisoryFlag(cmd, o)
	addReviewFlag(cmd, o)
	addGateFlags(cmd, o)
	return cmd
}

func (a *App) serverCommand() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Rampart server (production: PostgreSQL, TLS, agents elsewhere)",
		Long: `Run the Rampart server. With --database-url postgres://… it uses PostgreSQL, and several servers may
share one database; without it, SQLite under --data-dir. --tls-cert and --tls-key serve HTTPS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return a.serve(cmd.Context(), o) },
	}
	cmd.Flags().StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on")
	cmd.Flags().StringVar(&o.dataDir, "data-dir", "rampart-data", "directory for state (the SQLite database unless --database-url is given)")
	cmd.Flags().StringVar(&o.databaseURL, "database-url", os.Getenv("RAMPART_DATABASE_URL"), "postgres://… URL (default: $RAMPART_DATABASE_URL, else SQLite in --data-dir)")
	cmd.Flags().StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate file (PEM); with --tls-key serves HTTPS")
	cmd.Flags().StringVar(&o.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	cmd.Flags().StringVar(&o.masterKey, "master-key-file", "", "the vault's key-encryption key file (0600); or set RAMPART_MASTER_KEY. Make one with `rampart vault keygen FILE`")
	cmd.Flags().DurationVar(&o.leaseTTL, "lease-ttl", 30*time.Second, "how long a job lease lives without a heartbeat; a lost agent's jobs are recovered after it")
	addAdvisoryFlag(cmd, o)
	addReviewFlag(cmd, o)
	addGateFlags(cmd, o)
	return cmd
}

// serve runs the server until ctx ends, then shuts down gracefully.
func (a *App) serve(ctx context.Context, o *serveOptions) error {
	logger := newLogger(a.stderr, slog.LevelInfo)
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return rampart.Errorf(rampart.EINVALID, "--tls-cert and --tls-key go together").WithDetail("give both files, or neither for plain HTTP")
	}
	// Paths under the data directory are handed to git, which runs elsewhere: make them absolute.
	dataDir, err := filepath.Abs(o.dataDir)
	if err != nil {
		return fmt.Errorf("data directory %s: %w", o.dataDir, err)
	}
	o.dataDir = dataDir
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory %s: %w", o.dataDir, err)
	}
	dbURL := o.databaseURL
	if dbURL == "" {
		dbURL = "sqlite:" + filepath.Join(o.dataDir, "rampart.db")
	}
	keys, keyFile, err := a.masterKey(o)
	if err != nil {
		return err
	}
	// The provenance key signs what jobs build, and deployments consume only what it signed.
	// Like the vault's key it is checked before anything changes. Servers sharing one database
	// must share this file too.
	keyPath := o.provenanceKey
	if keyPath == "" {
		keyPath = filepath.Join(o.dataDir, "provenance.key")
	}
	provenanceKey, err := provenance.LoadOrCreateKey(keyPath)
	if err != nil {
		return fmt.Errorf("load the provenance key: %w", err)
	}
	gate, err := policy.DefaultGate()
	if o.gatePolicy != "" {
		gate, err = policy.LoadGate(o.gatePolicy)
	}
	if err != nil {
		return fmt.Errorf("gate policy: %w", err)
	}

	db, err := store.Open(ctx, dbURL, logger)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer db.Close()

	// The vault's key is checked before anything else happens, so that a server started with
	// the wrong key changes nothing — not even the first admin — before it refuses to start.
	vault, err := secrets.New(ctx, db, keys, nil)
	if err != nil {
		return fmt.Errorf("open the vault: %w", err)
	}
	authSvc, err := auth.New(db, logger, auth.Config{})
	if err != nil {
		return err
	}
	password, token, created, err := authSvc.Bootstrap(ctx)
	if err != nil {
		return fmt.Errorf("create first admin: %w", err)
	}
	if created {
		fmt.Fprintf(a.stdout, "First start: created the user admin. Save these now; they are not shown again.\n")
		fmt.Fprintf(a.stdout, "admin password: %s\n", password)
		fmt.Fprintf(a.stdout, "admin token: %s\n", token)
	}

	advisories := o.advisoryDB
	if advisories == "" {
		if advisories, err = deps.DefaultDir(); err != nil {
			return err
		}
	}

	repo := git.Repo{Cache: &git.Cache{Dir: filepath.Join(o.dataDir, "git-cache")}}
	// Review evidence from webhooks; its push checks wait in the database, so that any server
	// makes them when due, also after a restart.
	reviews := review.New(review.Config{Store: db, Grace: o.reviewGrace, Logger: logger})
	// The deploy gate and the scheduler call each other: deployments are held by the
	// scheduler and released (waking agents) by the gate.
	var sched *scheduler.Scheduler
	deploys := deploy.New(deploy.Config{
		Store: db, Commits: repo, Logger: logger,
		Provenance: server.ProvenanceChecker(provenanceKey),
		Reviews:    reviews,
		Released:   func() { sched.Wake() },
	})
	sched = scheduler.New(scheduler.Config{Store: db, Repo: repo, Secrets: vault, Deploys: deploys, Logger: logger, LeaseTTL: o.leaseTTL})
	deploys.SetAdvance(sched.Advance)
	srv := server.New(server.Config{
		Store: db, Auth: authSvc, Projects: project.New(db, nil), Scheduler: sched, Repo: repo,
		Vault: vault, MasterKeyFile: keyFile, Findings: findings.New(db, nil, findings.WithAdvisoryDB(advisories), findings.WithGate(gate)),
		Deploy: deploys, ProvenanceKey: provenanceKey,
		Logger: logger, Version: version, SecureCookies: o.tlsCert != "",

		Reviews: reviews,
	})
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return rampart.Errorf(rampart.EINVALID, "cannot listen on %s: %v", o.addr, err).WithDetail("choose another address with --addr, or stop what uses it")
	}
	scheme := "http"
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if o.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			return rampart.Errorf(rampart.EINVALID, "cannot load TLS certificate: %v", err).WithDetail("check --tls-cert and --tls-key point at a matching PEM certificate and key")
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s", scheme, ln.Addr())
	fmt.Fprintf(a.stdout, "Rampart %s listening on %s\n", version, url)
	logger.Info("listening", "url", url, "database", describeDB(dbURL))

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	bgCtx, stopBackground := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		_ = sched.Background(bgCtx)
	}()
	bg.Add(1)
	go func() {
		defer bg.Done()
		_ = reviews.Background(bgCtx)
	}()
	bg.Add(1)
	go func() {
		defer bg.Done()
		deploys.Background(bgCtx, time.Second)
	}()
	if o.dev {
		bg.Add(1)
		go func() {
			defer bg.Done()
			if err := a.localAgent(bgCtx, o, sched, url, logger); err != nil {
				logger.Error("local agent stopped", "err", err)
			}
		}()
	}
	select {
	case err := <-errc:
		stopBackground()
		bg.Wait()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	stopBackground()
	bg.Wait()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// masterKey loads the vault's key-encryption key: --master-key-file, else RAMPART_MASTER_KEY;
// `rampart up` makes data-dir/master.key on first start. It returns the key file's path ("" for
// the environment), which rotation adds keys to.
func (a *App) masterKey(o *serveOptions) (secrets.KeyProvider, string, error) {
	if v := os.Getenv("RAMPART_MASTER_KEY"); v != "" && o.masterKey == "" {
		kr, err := secrets.ParseKeyEnv(v)
		return kr, "", err
	}
	path := o.masterKey
	if path == "" {
		if !o.dev {
			return nil, "", rampart.Errorf(rampart.EINVALID, "no master key for the vault").
				WithDetail("make one with `rampart vault keygen /etc/rampart/master.key` and pass --master-key-file, or set RAMPART_MASTER_KEY; keep it apart from database backups")
		}
		path = filepath.Join(o.dataDir, "master.key")
	}
	kr, err := secrets.LoadKeyFile(path)
	if rampart.ErrorCode(err) == rampart.ENOTFOUND || errors.Is(err, os.ErrNotExist) {
		if !o.dev || o.masterKey != "" {
			return nil, "", rampart.Errorf(rampart.EINVALID, "master key file %s does not exist", path).
				WithDetail("make one with `rampart vault keygen %s`; a new key cannot open secrets sealed under another", path)
		}
		kr, err = secrets.GenerateKeyFile(path)
		if err == nil {
			fmt.Fprintf(a.stdout, "Created the vault's master key in %s (mode 0600). Back it up apart from the database.\n", path)
		}
	}
	if err != nil {
		return nil, "", err
	}
	return kr, path, nil
}

// localAgent runs the agent of `rampart up` in this process, registered on first start with a
// registration token the server makes for it. It talks to the server over HTTP like any other
// agent, so that a first try exercises the real protocol.
func (a *App) localAgent(ctx context.Context, o *serveOptions, sched *scheduler.Scheduler, url string, logger *slog.Logger) error {
	credFile := filepath.Join(o.dataDir, "agent.json")
	cfg := agent.Config{
		Server: url, CredentialFile: credFile, Name: "local", Capacity: 2,
		WorkRoot: filepath.Join(o.dataDir, "work"), Sandbox: "auto", Logger: logger.With("component", "agent"), Version: version,
	}
	if _, err := os.Stat(credFile); err != nil {
		token, _, err := sched.CreateAgentToken(ctx, rampart.SystemActor(), nil, 10*time.Minute)
		if err != nil {
			return fmt.Errorf("create the local agent's registration token: %w", err)
		}
		cfg.RegistrationToken = token
	}
	ag, err := agent.New(cfg)
	if err != nil {
		return err
	}
	return ag.Run(ctx)
}

// describeDB names the database for logs without its password.
func describeDB(u string) string {
	if p, err := neturl.Parse(u); err == nil && p.User != nil {
		p.User = neturl.User(p.User.Username())
		return p.String()
	}
	return u
}
