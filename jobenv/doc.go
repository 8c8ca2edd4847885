// Package jobenv is the environment contract of an fdsm job: the names of
// the variables through which `fdsm launch`, a Kubernetes pod spec or a
// cluster script tell a process where it stands in a job, and how the
// variables of other launchers (torchrun, Kubeflow's PET_*, Slurm's srun,
// Kubernetes Indexed Jobs) map onto it.
//
// Every package that reads or writes these variables (cluster, launch, the
// k8s manifests' tests) names them through this package, so a name is
// spelled once.
//
// Two levels read the environment:
//
//   - a worker (`fdsm train` as a member of a job): ResolveWorker;
//   - a launcher (`fdsm launch`, one per node): ResolveNode.
//
// fdsm's own variables always win. Another launcher's variables are read
// only where fdsm's leave a value open, and at the worker level only when
// FDSM_JOB is unset: `fdsm launch` sets FDSM_JOB for its workers, and the
// variables of a launcher around it (srun around fdsm launch, say) describe
// the launcher, not the worker. Values from two sources at the same level
// (a Kubernetes completion index and PET_NODE_RANK, say) must agree; a
// disagreement is an error naming both variables.
package jobenv
