package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/client"
	"github.com/rampart-ci/rampart/provenance"
)

// maxKeyFile bounds a public key file read by `artifact verify --key`.
const maxKeyFile = 64 << 10

// provenanceCommand is `rampart provenance`: the server's provenance signing key.
func (a *App) provenanceCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "provenance", Short: "The key that signs the provenance of what the server builds"}
	var out string
	key := &cobra.Command{
		Use:   "key [--output FILE]",
		Short: "Print or save the server's provenance public key (PEM), to verify artifacts offline",
		Long: `Print the public key that verifies the provenance the server signs for every artifact its jobs
build. Save it once with --output, and check artifacts anywhere with
` + "`rampart artifact verify FILE --provenance ENVELOPE --key FILE`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			pem, err := a.fetchProvenanceKey(cmd.Context())
			if err != nil {
				return err
			}
			pub, err := provenance.ParsePublicKey(pem)
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				_, err := a.stdout.Write(pem)
				return err
			}
			if err := os.WriteFile(out, pem, 0o644); err != nil {
				return fmt.Errorf("save the key: %w", err)
			}
			fmt.Fprintf(a.stderr, "Saved the provenance key %s to %s (builder %s)\n", provenance.KeyID(pub), out, provenance.BuilderID(pub))
			return nil
		},
	}
	key.Flags().StringVarP(&out, "output", "o", "", "file to write the key to (default: print it)")
	cmd.AddCommand(key)
	return cmd
}

// artifactVerifyCommand is `rampart artifact verify`.
func (a *App) artifactVerifyCommand() *cobra.Command {
	var envelopeFile, keyFile, name string
	cmd := &cobra.Command{
		Use:   "verify FILE [--provenance ENVELOPE] [--key PUBKEY.pem] [--name NAME]",
		Short: "Check that a file is an artifact the server built, by its signed provenance",
		Long: `Verify the signed provenance (an in-toto SLSA v1 statement in a DSSE envelope, as saved by
` + "`rampart artifact get --provenance`" + `) of FILE: that the server's key signed it and that it covers
FILE's exact content (and, with --name, the name the job kept it under). Then print what the
provenance says: repository, commit, ref, run, job and builder.

With --key the check is offline, against a key saved with ` + "`rampart provenance key --output`" + `;
without it the key is fetched from the server. Exits non-zero, saying what did not match, when
the file or its provenance fails the check.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			if envelopeFile == "" {
				envelopeFile = file + ".intoto.json"
			}
			envelope, err := readLimited(envelopeFile, provenance.MaxEnvelopeSize)
			if err != nil {
				return rampart.Errorf(rampart.EINVALID, "cannot read the provenance: %v", err).
					WithDetail("give the envelope with --provenance FILE; `rampart artifact get PROJECT ID --provenance FILE` saves it")
			}
			var pem []byte
			if keyFile != "" {
				if pem, err = readLimited(keyFile, maxKeyFile); err != nil {
					return rampart.Errorf(rampart.EINVALID, "cannot read the key: %v", err).
						WithDetail("give the file saved with `rampart provenance key --output FILE`")
				}
			} else if pem, err = a.fetchProvenanceKey(cmd.Context()); err != nil {
				return err
			}
			pub, err := provenance.ParsePublicKey(pem)
			if err != nil {
				return err
			}
			f, err := os.Open(file)
			if err != nil {
				return rampart.Errorf(rampart.EINVALID, "cannot read the artifact: %v", err).WithDetail("give the path of the file to verify")
			}
			defer f.Close()
			h := sha256.New()
			v, err := provenance.VerifyArtifact(io.TeeReader(f, h), name, envelope, pub)
			if err != nil {
				return err
			}
			a.printVerified(file, hex.EncodeToString(h.Sum(nil)), v, pub)
			return nil
		},
	}
	cmd.Flags().StringVar(&envelopeFile, "provenance", "", "the provenance envelope (default: FILE.intoto.json)")
	cmd.Flags().StringVar(&keyFile, "key", "", "the server's provenance public key (PEM) to verify offline (default: fetch it from the server)")
	cmd.Flags().StringVar(&name, "name", "", "also require the provenance to cover FILE under this artifact name (e.g. dist/app)")
	return cmd
}

// printVerified says what a verified provenance says about file, whose content has the SHA-256
// sum (lower-case hex).
func (a *App) printVerified(file, sum string, v *provenance.Verified, pub ed25519.PublicKey) {
	b := v.Build
	subject := provenance.Subject{SHA256: sum}
	for _, s := range v.Subjects {
		if s.SHA256 == sum {
			subject = s
		}
	}
	w := a.table()
	fmt.Fprintf(a.stdout, "Verified: %s is what its provenance, signed by key %s, says was built.\n", file, v.KeyID)
	fmt.Fprintf(w, "  artifact\t%s\n", subject.Name)
	fmt.Fprintf(w, "  sha256\t%s\n", subject.SHA256)
	fmt.Fprintf(w, "  repository\t%s\n", b.Repository)
	fmt.Fprintf(w, "  commit\t%s\n", b.Commit)
	if b.Ref != "" {
		fmt.Fprintf(w, "  ref\t%s\n", b.Ref)
	}
	run := fmt.Sprintf("%s #%d", b.Project, b.RunNumber)
	switch {
	case b.Event != "" && b.TriggeredBy != "":
		run += fmt.Sprintf(" (%s, started by %s)", b.Event, b.TriggeredBy)
	case b.Event != "":
		run += fmt.Sprintf(" (%s)", b.Event)
	}
	fmt.Fprintf(w, "  run\t%s\n", run)
	fmt.Fprintf(w, "  job\t%s (id %d)\n", b.Job, b.JobID)
	fmt.Fprintf(w, "  pipeline\t%s (sha256 %s)\n", b.PipelineFile, b.PipelineSHA256)
	if !b.StartedAt.IsZero() && !b.FinishedAt.IsZero() {
		fmt.Fprintf(w, "  built\t%s to %s\n", b.StartedAt.Format(time.RFC3339), b.FinishedAt.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "  builder\t%s\n", b.BuilderID)
	fmt.Fprintf(w, "  signed by\tkey %s\n", v.KeyID)
	_ = w.Flush()
	if b.BuilderID != provenance.BuilderID(pub) {
		fmt.Fprintf(a.stderr, "note: the builder id is not the one this key's server records (%s)\n", provenance.BuilderID(pub))
	}
}

// saveProvenance saves the provenance of artifact id of project to path, for
// `rampart artifact get --provenance`.
func (a *App) saveProvenance(ctx context.Context, c *client.Client, project string, id int64, path string) error {
	envelope, err := c.ArtifactProvenance(ctx, project, id)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, envelope, 0o644); err != nil {
		return fmt.Errorf("save the provenance: %w", err)
	}
	fmt.Fprintf(a.stderr, "Saved its provenance to %s\n", path)
	return nil
}

// fetchProvenanceKey asks the server for its provenance public key; the call needs the server's
// address only, no login.
func (a *App) fetchProvenanceKey(ctx context.Context) ([]byte, error) {
	server := a.serverFlag
	if server == "" {
		server = os.Getenv("RAMPART_SERVER")
	}
	if server == "" {
		c, err := loadCredentials()
		if err != nil {
			return nil, err
		}
		server = c.Server
	}
	if server == "" {
		return nil, rampart.Errorf(rampart.EINVALID, "no server to fetch the provenance key from").
			WithDetail("give the key with --key FILE, or the server with --server URL or RAMPART_SERVER")
	}
	return client.New(server, "").ProvenanceKey(ctx)
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}
