package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/secrets"
)

// secretArgs reads [PROJECT] NAME: with --org there is no project.
func secretArgs(args []string, org bool) (project, name string, err error) {
	switch {
	case org && len(args) == 1:
		return "", args[0], nil
	case !org && len(args) == 2:
		return args[0], args[1], nil
	case org:
		return "", "", rampart.Errorf(rampart.EINVALID, "with --org give only the secret's NAME")
	}
	return "", "", rampart.Errorf(rampart.EINVALID, "give PROJECT and NAME").WithDetail("or --org NAME for an organisation secret")
}

func (a *App) secretCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secret",
		Short: "Manage secrets: write-only values in the vault, delivered only to jobs that declare them",
	}
	var env string
	var org bool
	set := &cobra.Command{
		Use:   "set [PROJECT] NAME [--env ENV | --org]",
		Short: "Store a new version of a secret, reading the value from stdin",
		Long: `Store a new version of a secret. The value is read from stdin (typed without echo on a terminal)
and can never be read back through the API or the CLI; jobs get it only by declaring
` + "`secrets: [NAME]`" + `, and logs show it as ***. Values must be at least 8 characters: shorter ones
cannot be masked in logs without masking ordinary text.`,
		Example: `  printf '%s' "$TOKEN" | rampart secret set web DEPLOY_TOKEN
  rampart secret set web DB_PASSWORD --env production
  rampart secret set --org NPM_TOKEN < token.txt`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			project, name, err := secretArgs(args, org)
			if err != nil {
				return err
			}
			value, err := a.readSecretValue(name)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			s, err := c.SetSecret(cmd.Context(), project, env, name, value)
			for i := range value {
				value[i] = 0
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Secret %s (%s) is now at version %d.\n", s.Name, describeScope(&s.Secret), s.Version)
			return nil
		},
	}
	set.Flags().StringVar(&env, "env", "", "only for jobs deploying to this environment")
	set.Flags().BoolVar(&org, "org", false, "an organisation secret, visible to every project's jobs that declare it")
	var listOrg bool
	list := &cobra.Command{
		Use:   "list [PROJECT | --org]",
		Short: "List secrets (names, versions, who changed them when; never values)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			project := ""
			if len(args) == 1 {
				project = args[0]
			} else if !listOrg {
				return rampart.Errorf(rampart.EINVALID, "give a PROJECT, or --org for the organisation's secrets")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			list, err := c.ListSecrets(cmd.Context(), project)
			if err != nil {
				return err
			}
			tw := a.table()
			fmt.Fprintln(tw, "NAME\tSCOPE\tVERSION\tUPDATED\tBY")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", s.Name, describeScope(s), s.Version, fmtTime(&s.UpdatedAt), s.UpdatedBy)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&listOrg, "org", false, "list the organisation's secrets")
	show := &cobra.Command{
		Use:   "show [PROJECT] NAME [--env ENV | --org]",
		Short: "Show a secret's versions (never its value)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			project, name, err := secretArgs(args, org)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			s, err := c.ShowSecret(cmd.Context(), project, env, name)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Secret %s (%s), version %d\n\n", s.Name, describeScope(&s.Secret), s.Version)
			tw := a.table()
			fmt.Fprintln(tw, "VERSION\tCREATED\tBY\tKEY")
			for _, v := range s.Versions {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", v.Version, fmtTime(&v.CreatedAt), v.CreatedBy, v.KeyID)
			}
			return tw.Flush()
		},
	}
	show.Flags().StringVar(&env, "env", "", "the environment's secret")
	show.Flags().BoolVar(&org, "org", false, "an organisation secret")
	del := &cobra.Command{
		Use:   "delete [PROJECT] NAME [--env ENV | --org]",
		Short: "Delete a secret and all its versions",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			project, name, err := secretArgs(args, org)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			if err := c.DeleteSecret(cmd.Context(), project, env, name); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Secret %s deleted.\n", name)
			return nil
		},
	}
	del.Flags().StringVar(&env, "env", "", "the environment's secret")
	del.Flags().BoolVar(&org, "org", false, "an organisation secret")
	cmd.AddCommand(set, list, show, del)
	return cmd
}

func describeScope(s *rampart.Secret) string {
	switch s.Scope {
	case rampart.ScopeOrg:
		return "organisation"
	case rampart.ScopeEnvironment:
		return "project " + s.Project + ", environment " + s.Environment
	}
	return "project " + s.Project
}

// readSecretValue reads a secret from stdin: without echo on a terminal, else all of stdin with
// one trailing newline removed (what `echo` and most editors add).
func (a *App) readSecretValue(name string) ([]byte, error) {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(a.stderr, "Value of %s (not shown): ", name)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return nil, fmt.Errorf("read the value: %w", err)
		}
		return b, nil
	}
	b, err := io.ReadAll(io.LimitReader(a.stdin, secrets.MaxValueSize+2))
	if err != nil {
		return nil, fmt.Errorf("read the value from stdin: %w", err)
	}
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if len(b) == 0 {
		return nil, rampart.Errorf(rampart.EINVALID, "no value on stdin").WithDetail("pipe the value in: printf '%%s' \"$VALUE\" | rampart secret set …")
	}
	return b, nil
}

func (a *App) vaultCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "vault", Short: "The vault's master key: make one, rotate it"}
	keygen := &cobra.Command{
		Use:   "keygen FILE",
		Short: "Write a new master key file (0600) for `rampart server --master-key-file`",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kr, err := secrets.GenerateKeyFile(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Wrote master key %s to %s (mode 0600). Back it up apart from the database: without it no secret can be read.\n", kr.KeyID(), args[0])
			return nil
		},
	}
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Add a new master key on the server and re-wrap every data key under it, without downtime",
		Long: `Ask the server to put a new key-encryption key first in its key file and re-wrap every secret's
data key under it. Secret values are never decrypted or written to disk; the server keeps serving.
Servers sharing the database need the new key file before the rotation: copy it to them first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			res, err := c.RotateVault(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "Vault rotated to key %s: %d data keys re-wrapped.\n", res.KeyID, res.Rewrapped)
			return nil
		},
	}
	cmd.AddCommand(keygen, rotate)
	return cmd
}
