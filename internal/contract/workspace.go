package contract

// WorkspaceDir, in a bottle's state directory, holds what `bottle diff` and
// `bottle pull` compare and keep: the baseline recorded at launch, the
// agent's /workspace as saved when the bottle stopped, and their status.
// It is never mounted into a container: the agent cannot see or change it.
// It goes with the state directory (bottle rm, bottle prune).
const WorkspaceDir = "workspace"

// In WorkspaceDir.
const (
	// BaselineRepo is a private bare git repository of bottle's own: the
	// tree of what was copied into /workspace at launch (objects and one
	// ref, nothing else).
	BaselineRepo = "baseline.git"
	// SavedWorkspace is the agent's /workspace, copied out and checked
	// when the bottle stopped, for diff and pull to read afterwards.
	SavedWorkspace = "saved"
	// WorkspaceStatusFile says what was saved and what was pulled
	// (launcher.WorkspaceStatus).
	WorkspaceStatusFile = "status.json"
)
