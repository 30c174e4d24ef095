package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/agent"
)

func (a *App) agentCommand() *cobra.Command {
	var cfg agent.Config
	var labels string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a build agent that leases jobs from a Rampart server (outbound connections only)",
		Long: `Run a build agent. The first start trades a single-use registration token (from
` + "`rampart agent-token create`" + `) for an agent credential, stored with 0600 permissions; later starts
reuse it. Steps run in a fresh workspace with a clean environment, inside bubblewrap when it is
installed, and nothing of a job remains afterwards.`,
		Example: `  rampart agent --server https://ci.example.com --token rmr_… --labels linux,go --capacity 2`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if cfg.Server == "" {
				cfg.Server = os.Getenv("RAMPART_SERVER")
			}
			if cfg.Server == "" {
				return rampart.Errorf(rampart.EINVALID, "no server given").WithDetail("pass --server URL")
			}
			cfg.Labels = splitList(labels)
			cfg.Logger = newLogger(a.stderr, slog.LevelInfo)
			cfg.Version = version
			ag, err := agent.New(cfg)
			if err != nil {
				return err
			}
			return ag.Run(cmd.Context())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Server, "server", "", "Rampart server URL (default $RAMPART_SERVER)")
	f.StringVar(&cfg.RegistrationToken, "token", os.Getenv("RAMPART_AGENT_TOKEN"), "registration token, needed on first start (default $RAMPART_AGENT_TOKEN)")
	f.StringVar(&cfg.CredentialFile, "credential-file", "", "where the agent keeps its credential (default ~/.config/rampart/agent.json)")
	f.StringVar(&cfg.Name, "name", "", "agent name (default: host name)")
	f.StringVar(&labels, "labels", "", "comma-separated labels this agent offers, e.g. linux,go (labels set by an admin win)")
	f.IntVar(&cfg.Capacity, "capacity", 1, "jobs to run at once")
	f.StringVar(&cfg.WorkRoot, "work-dir", "", "where job workspaces are created (default: a rampart-work directory in the system temp dir)")
	f.StringVar(&cfg.Sandbox, "sandbox", "auto", "auto (bubblewrap when available), bwrap (required) or none")
	// The agent subcommand has its own --token meaning; hide the client's persistent one.
	return cmd
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func (a *App) agentTokenCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "agent-token", Short: "Create agent registration tokens (admins)"}
	var labels, ttl string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a single-use registration token; it is printed once",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			resp, err := c.CreateAgentToken(cmd.Context(), splitList(labels), ttl)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "Registration token %d, single use, expires %s. It is shown only now:\n", resp.Info.ID, fmtTime(&resp.Info.ExpiresAt))
			fmt.Fprintln(a.stdout, resp.Token)
			return nil
		},
	}
	create.Flags().StringVar(&labels, "labels", "", "labels the agent gets, whatever it claims (comma-separated)")
	create.Flags().StringVar(&ttl, "ttl", "", "lifetime, at most 24h (default 1h)")
	cmd.AddCommand(create)
	return cmd
}

func (a *App) agentsCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "agents", Short: "List agents; set their labels or disable them (admins)"}
	list := &cobra.Command{
		Use:   "list",
		Short: "List registered agents",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			agents, err := c.ListAgents(cmd.Context())
			if err != nil {
				return err
			}
			tw := a.table()
			fmt.Fprintln(tw, "NAME\tLABELS\tCAPACITY\tSTATUS\tLAST SEEN\tVERSION")
			for _, ag := range agents {
				status := "enabled"
				if ag.Disabled {
					status = "disabled"
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", ag.Name, strings.Join(ag.Labels, ","), ag.Capacity, status, fmtTime(ag.LastSeenAt), ag.Version)
			}
			return tw.Flush()
		},
	}
	var labels string
	var disable, enable bool
	set := &cobra.Command{
		Use:   "set NAME [--labels a,b] [--disable|--enable]",
		Short: "Set an agent's labels (they win over what it claims), or disable it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			var l *[]string
			if cmd.Flags().Changed("labels") {
				x := splitList(labels)
				l = &x
			}
			var d *bool
			if disable || enable {
				d = &disable
			}
			ag, err := c.UpdateAgent(cmd.Context(), args[0], l, d)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Agent %s: labels %s, disabled %v.\n", ag.Name, strings.Join(ag.Labels, ","), ag.Disabled)
			return nil
		},
	}
	set.Flags().StringVar(&labels, "labels", "", "comma-separated labels")
	set.Flags().BoolVar(&disable, "disable", false, "disable the agent: its credential stops working and its jobs are recovered")
	set.Flags().BoolVar(&enable, "enable", false, "enable a disabled agent")
	cmd.AddCommand(list, set)
	return cmd
}
