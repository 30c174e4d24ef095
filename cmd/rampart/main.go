// Command rampart is Rampart's one binary: the server (`up`, `server`), the build agent and the
// command-line client. All wiring happens here.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rampart-ci/rampart"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs the command line args and returns the exit code. Tests run the same function.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := &App{stdin: stdin, stdout: stdout, stderr: stderr}
	root := app.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		// A command that promises exit codes (`rampart scan`: 1 for a failing gate, 2 for a
		// usage or input error) returns an *exitError; any other error exits with 1.
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.err != nil {
				printError(stderr, ee.err)
			}
			return ee.code
		}
		printError(stderr, err)
		return 1
	}
	return 0
}

// printError shows err to a person: the message, then how to fix it.
func printError(w io.Writer, err error) {
	var e *rampart.Error
	if !errors.As(err, &e) {
		fmt.Fprintf(w, "error: %v\n", err)
		return
	}
	fmt.Fprintf(w, "error: %s\n", rampart.ErrorMessage(err))
	if d := rampart.ErrorDetail(err); d != "" {
		fmt.Fprintf(w, "  %s\n", d)
	}
}

// App holds what the commands share: standard streams and the client flags.
type App struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	serverFlag     string
	tokenFlag      string
}

func (a *App) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "rampart",
		Short:         "Rampart: a self-hosted secure CI/CD server",
		Long:          "Rampart builds, tests, scans, approves and deploys your software; every change reviewed, gated and recorded.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.serverFlag, "server", "", "Rampart server URL (default: $RAMPART_SERVER, then the saved login)")
	root.PersistentFlags().StringVar(&a.tokenFlag, "token", "", "API token (default: $RAMPART_TOKEN, then the saved login)")
	root.AddCommand(
		a.upCommand(), a.serverCommand(),
		a.loginCommand(), a.logoutCommand(), a.whoamiCommand(),
		a.userCommand(), a.tokenCommand(), a.projectCommand(), a.auditCommand(),
		a.pipelineCommand(), a.logsCommand(), a.artifactCommand(), a.localRunCommand(),
		a.agentCommand(), a.agentTokenCommand(), a.agentsCommand(),
		a.secretCommand(), a.vaultCommand(), a.findingsCommand(), a.waiverCommand(), a.dbCommand(),
		a.envCommand(), a.deployCommand(), a.decideCommand(true), a.decideCommand(false),
		a.reviewsCommand(), a.violationsCommand(),
		a.scanCommand(),
		a.provenanceCommand(),
		a.versionCommand(),
	)
	return root
}

func (a *App) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(a.stdout, "rampart %s\n", version)
			return nil
		},
	}
}

// newLogger logs JSON when stderr is not a terminal (log collectors) and text when it is (people).
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
