//! `kiln train --distributed` and `--parameter-server`: the strategy of an MPI job.

use kiln::distribute::Strategy;

/// The strategy the flags ask for, joining the MPI job this process was launched in.
pub fn strategy(
    distributed: bool,
    parameter_server: bool,
) -> Result<Option<Box<dyn Strategy>>, String> {
    if !distributed && !parameter_server {
        return Ok(None);
    }
    #[cfg(feature = "mpi")]
    {
        use kiln::distribute::{MultiWorkerMirroredStrategy, ParameterServerStrategy};
        let strategy: Box<dyn Strategy> = if parameter_server {
            Box::new(ParameterServerStrategy::new().map_err(|e| e.to_string())?)
        } else {
            Box::new(MultiWorkerMirroredStrategy::new().map_err(|e| e.to_string())?)
        };
        Ok(Some(strategy))
    }
    #[cfg(not(feature = "mpi"))]
    {
        Err(
            "this kiln was built without MPI: build it with `cargo build --release \
             --features mpi` (Open MPI or MPICH installed) and launch `mpirun -np N kiln \
             train ... --distributed`"
                .into(),
        )
    }
}
