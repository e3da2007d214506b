//! A project: the directory holding `environments/` and `specs/`.

use super::assertion::Assertion;
use super::environment::{self, Environment};
use super::spec;
use super::ModelError;
use std::path::{Path, PathBuf};

/// The user's project directory.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    /// `envctl.toml`: what the project sets for every verb.
    pub defaults: super::defaults::Defaults,
}

impl Project {
    /// Opens the project at `root`.
    ///
    /// # Errors
    /// When `root` has no `environments/` directory.
    pub fn open(root: &Path) -> Result<Project, ModelError> {
        let root = root.canonicalize().map_err(|source| ModelError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        if !root.join("environments").is_dir() {
            return Err(ModelError::Project(format!(
                "{} has no environments/ directory; run envctl in a project or pass --root DIR",
                root.display()
            )));
        }
        super::confine::Root::new(&root)
            .state_dir()
            .map_err(|why| ModelError::Project(why.to_string()))?;
        let names = environment::environment_names(&root)?;
        let defaults = super::defaults::load(&root, &names)?;
        Ok(Project { root, defaults })
    }

    /// Names of all environments, sorted.
    ///
    /// # Errors
    /// When `environments/` cannot be read.
    pub fn environment_names(&self) -> Result<Vec<String>, ModelError> {
        environment::environment_names(&self.root)
    }

    /// The environment to use: the one named, else `envctl.toml`'s `environment`, else
    /// the only one there is.
    ///
    /// # Errors
    /// No name given and the project has zero or several environments.
    pub fn pick(&self, name: Option<&str>) -> Result<String, ModelError> {
        if let Some(n) = name.or(self.defaults.environment.as_deref()) {
            return Ok(n.to_string());
        }
        let names = self.environment_names()?;
        match names.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ModelError::Project(
                "the project has no environments/*.toml".into(),
            )),
            many => Err(ModelError::Project(format!(
                "the project has several environments; name one ({}), or set `environment` in envctl.toml",
                many.join(", ")
            ))),
        }
    }

    /// Loads and validates an environment.
    ///
    /// # Errors
    /// See [`environment::load`].
    pub fn environment(&self, name: &str) -> Result<Environment, ModelError> {
        environment::load_with_engine(&self.root, name, self.defaults.engine.unwrap_or_default())
    }

    /// Loads and validates the specs of an environment.
    ///
    /// # Errors
    /// See [`spec::load`].
    pub fn specs(&self, env: &Environment) -> Result<Vec<Assertion>, ModelError> {
        spec::load(&self.root, env)
    }
}
