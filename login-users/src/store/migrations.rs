//! The versioned schema of the SQL stores: the files of `migrations/{sqlite,postgres}/`, embedded
//! at compile time and applied by sqlx's migrator, which records each version in
//! [`HISTORY_TABLE`] (its own table, so that an app's own `sqlx::migrate!` on the same database
//! keeps `_sqlx_migrations` to itself).
//!
//! Three sets share that one history table, so that the optional tables stay opt-in: the users'
//! (always, at connect), the access tokens' (when a `DatabaseStrategy` is made) and the refresh
//! tokens' (when a refresh store is made). Their versions are distinct across the sets, and each
//! migrator ignores the versions of the others (`ignore_missing`). One set would be simpler, but
//! it would add `accesstoken` and the refresh tables to every database, FastAPI Users' included.
//!
//! The migrator's own lock is off: each backend takes its own, held for the whole run, the
//! Rust-side data steps after the SQL included (SQLite: `BEGIN IMMEDIATE`; PostgreSQL: the
//! transaction-scoped advisory lock earlier versions took, so that an instance of an earlier
//! version starting at the same moment waits too).

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// The history of this crate's migrations. Not sqlx's default `_sqlx_migrations`: an app that
/// migrates its own tables with sqlx on the same database uses that one, and sharing it, each
/// migrator would meet the other's versions (one number used by both fails its checksum check).
pub(crate) const HISTORY_TABLE: &str = "_login_users_migrations";

/// One migration file, embedded: `<version>_<description>.sql`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Embedded {
    /// The file's name without `.sql`.
    pub(crate) name: &'static str,
    /// The number before the name's first `_`; unique across a backend's sets.
    pub(crate) version: i64,
    /// The file's text.
    pub(crate) sql: &'static str,
}

impl Embedded {
    /// The name after its version.
    fn description(&self) -> &'static str {
        self.name
            .split_once('_')
            .map_or(self.name, |(_, description)| description)
    }
}

/// A backend's migration file, embedded from `migrations/$backend/$name.sql`. Used in a `const`,
/// so a name that does not start with `<digits>_` is a compile error.
macro_rules! embedded {
    ($backend:literal, $name:literal) => {
        $crate::store::migrations::Embedded {
            name: $name,
            version: $crate::store::migrations::version_of($name),
            sql: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/migrations/",
                $backend,
                "/",
                $name,
                ".sql"
            )),
        }
    };
}
pub(crate) use embedded;

/// The version of a migration named `<digits>_<description>`; evaluated at compile time.
pub(crate) const fn version_of(name: &str) -> i64 {
    let bytes = name.as_bytes();
    let mut i = 0;
    let mut version: i64 = 0;
    while i < bytes.len() && bytes[i] != b'_' {
        assert!(
            bytes[i].is_ascii_digit() && i < 15,
            "a migration's name is `<version>_<description>`, the version in digits"
        );
        version = version * 10 + (bytes[i] - b'0') as i64;
        i += 1;
    }
    assert!(
        i > 0 && i + 1 < bytes.len(),
        "a migration's name is `<version>_<description>`"
    );
    version
}

/// The migrator of one set: sqlx's, on [`HISTORY_TABLE`], without its lock (the caller holds
/// one) and ignoring the versions of the other sets in that history.
pub(crate) fn migrator(set: &[Embedded]) -> Migrator {
    let migrations = set
        .iter()
        .map(|file| {
            Migration::new(
                file.version,
                Cow::Borrowed(file.description()),
                MigrationType::Simple,
                file.sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = Migrator::with_migrations(migrations);
    migrator.set_ignore_missing(true).set_locking(false);
    // "dangerous" for a database whose history is in another table already; this one never was.
    migrator.dangerous_set_table_name(HISTORY_TABLE);
    migrator
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeSet;

    use super::Embedded;

    /// The files of `migrations/<backend>/` are exactly the embedded sets', named by version and
    /// description, with no version used twice: a file added to the folder but not to a set (or
    /// the other way round) fails here.
    pub(crate) fn sets_match_the_folder(backend: &str, sets: &[&[Embedded]]) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(backend);
        let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        let embedded: Vec<String> = sets
            .iter()
            .flat_map(|set| set.iter())
            .map(|file| format!("{}.sql", file.name))
            .collect();
        let unique: BTreeSet<String> = embedded.iter().cloned().collect();
        assert_eq!(unique.len(), embedded.len(), "a file in two sets: {embedded:?}");
        assert_eq!(on_disk, unique, "the files of {}", dir.display());
        let versions: BTreeSet<i64> = sets
            .iter()
            .flat_map(|set| set.iter())
            .map(|f| f.version)
            .collect();
        assert_eq!(
            versions.len(),
            embedded.len(),
            "a version used twice: {embedded:?}"
        );
        for set in sets {
            for file in *set {
                let on_disk = std::fs::read_to_string(dir.join(format!("{}.sql", file.name))).unwrap();
                assert_eq!(on_disk, file.sql, "{}", file.name);
            }
        }
    }
}
