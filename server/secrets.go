package server

import (
	"net/http"

	"github.com/rampart-ci/rampart"
	"github.com/rampart-ci/rampart/secrets"
)

// SecretSetRequest is the body that sets a secret's value. The value is write-only: no answer of
// the API ever contains it.
type SecretSetRequest struct {
	Value       string `json:"value"`
	Environment string `json:"environment,omitempty"`
}

// SecretResponse is a secret's metadata with its versions.
type SecretResponse struct {
	*rampart.Secret
	Versions []*secrets.Version `json:"versions,omitempty"`
}

// secretRef names the secret of the path: a project's (or one of its environments') under
// /projects/{project}/secrets/{name}, an organisation secret under /secrets/{name}.
func secretRef(r *http.Request, env string) secrets.SecretRef {
	ref := secrets.SecretRef{Scope: rampart.ScopeOrg, Name: r.PathValue("name")}
	if p := r.PathValue("project"); p != "" {
		ref.Scope, ref.Project = rampart.ScopeProject, p
		if env != "" {
			ref.Scope, ref.Environment = rampart.ScopeEnvironment, env
		}
	}
	return ref
}

func (s *Server) handleSecretSet(w http.ResponseWriter, r *http.Request) error {
	var req SecretSetRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	sec, err := s.cfg.Vault.Set(r.Context(), actorOf(r), secretRef(r, req.Environment), []byte(req.Value))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, SecretResponse{Secret: sec})
	return nil
}

func (s *Server) handleSecretShow(w http.ResponseWriter, r *http.Request) error {
	sec, versions, err := s.cfg.Vault.Show(r.Context(), actorOf(r), secretRef(r, r.URL.Query().Get("environment")))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, SecretResponse{Secret: sec, Versions: versions})
	return nil
}

func (s *Server) handleSecretList(w http.ResponseWriter, r *http.Request) error {
	f := secrets.ListFilter{Scope: rampart.ScopeOrg}
	if p := r.PathValue("project"); p != "" {
		f = secrets.ListFilter{Project: p, Environment: r.URL.Query().Get("environment")}
	}
	list, err := s.cfg.Vault.List(r.Context(), actorOf(r), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) handleSecretDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.cfg.Vault.Delete(r.Context(), actorOf(r), secretRef(r, r.URL.Query().Get("environment"))); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// RotateResponse reports a key rotation.
type RotateResponse struct {
	KeyID     string `json:"key_id"`
	Rewrapped int    `json:"rewrapped"`
}

// handleVaultRotate adds a new key-encryption key to the server's key file and re-wraps every
// data key under it while the server keeps serving.
func (s *Server) handleVaultRotate(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.MasterKeyFile == "" {
		return rampart.Errorf(rampart.EPRECONDITION, "this server's master key comes from RAMPART_MASTER_KEY, not a file").
			WithDetail("put the new key first in RAMPART_MASTER_KEY (old keys after it, comma-separated), restart, and the vault re-wraps on start; or use --master-key-file")
	}
	kr, err := secrets.AddKeyToFile(s.cfg.MasterKeyFile)
	if err != nil {
		return err
	}
	n, err := s.cfg.Vault.Rotate(r.Context(), actorOf(r), kr)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, RotateResponse{KeyID: kr.KeyID(), Rewrapped: n})
	return nil
}
