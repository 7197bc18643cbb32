//! The emulator's model: upload sessions, assets, folders and stored objects, behind one mutex,
//! with blobs on disk under the data dir.
//!
//! A record costs a few hundred bytes, so an emulator holding 100,000 assets stays light: a
//! session leaves once confirmed (its asset, with the same id, says it is sealed), keys and
//! names are one shared allocation ([`Text`]) however many records refer to them, MIME and
//! asset types are interned, and an object's file name is derived from its key.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;
use tokio::sync::watch;
use uuid::Uuid;

/// Text shared between records (a key is the asset's, its object's and its session's).
pub(crate) type Text = Arc<str>;

/// A presigned upload session (`POST /v1/asset-uploads`) not yet confirmed; once confirmed it
/// is an asset with the same id, and its object is sealed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UploadRecord {
    pub id: Uuid,
    pub filename: Text,
    pub mime_type: Text,
    pub size_bytes: u64,
    /// Storage key the presigned PUT writes.
    pub object_key: Text,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A confirmed asset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AssetRecord {
    pub id: Uuid,
    pub folder_id: Option<Uuid>,
    pub name: Text,
    pub r2_key: Text,
    pub mime_type: Text,
    pub size_bytes: u64,
    pub asset_type: Text,
    /// Storage key of the thumbnail, decided at confirm time.
    pub thumbnail_key: Option<Text>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
    pub deleted_by: Option<Uuid>,
}

/// An asset folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FolderRecord {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub deleted_at: Option<OffsetDateTime>,
}

/// A committed object in storage (what a HEAD would report); its file in the objects directory
/// is [`object_file_name`] of its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ObjectMeta {
    pub content_type: Text,
    pub size_bytes: u64,
    /// SHA-256 of the bytes (the `ETag`, stored as its quoted hex).
    #[serde(rename = "etag", with = "quoted_hex")]
    pub sha256: [u8; 32],
}

impl ObjectMeta {
    /// The `ETag` header value: the quoted hex SHA-256.
    pub fn etag(&self) -> String {
        format!("\"{}\"", hex::encode(self.sha256))
    }
}

/// The `ETag` as the snapshot keeps it: `"\"<hex>\""`.
mod quoted_hex {
    use serde::{Deserialize as _, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(sha: &[u8; 32], out: S) -> Result<S::Ok, S::Error> {
        out.collect_str(&format_args!("\"{}\"", hex::encode(sha)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(input)?;
        let mut sha = [0; 32];
        hex::decode_to_slice(text.trim_matches('"'), &mut sha).map_err(D::Error::custom)?;
        Ok(sha)
    }
}

/// Everything the emulator knows; serialised as the state snapshot.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Db {
    /// Sessions not confirmed yet.
    pub uploads: HashMap<Uuid, UploadRecord>,
    /// Sessions ever created, confirmed or not (a test hook).
    #[serde(default)]
    pub sessions_created: u64,
    pub assets: HashMap<Uuid, AssetRecord>,
    pub folders: HashMap<Uuid, FolderRecord>,
    /// Committed objects by storage key.
    pub objects: HashMap<Text, ObjectMeta>,
    /// The MIME and asset types in use, each held once.
    #[serde(skip)]
    interned: HashSet<Text>,
}

impl Db {
    /// `text` as the one shared copy of it (for the few distinct MIME and asset types).
    pub fn intern(&mut self, text: &str) -> Text {
        if let Some(held) = self.interned.get(text) {
            return held.clone();
        }
        let held: Text = text.into();
        self.interned.insert(held.clone());
        held
    }

    /// Records a committed object under `key`, its type interned.
    pub fn insert_object(&mut self, key: Text, mut meta: ObjectMeta) {
        meta.content_type = self.intern(&meta.content_type);
        self.objects.insert(key, meta);
    }

    /// Whether the session `id` became an asset (its object is sealed).
    pub fn confirmed(&self, id: Uuid) -> bool {
        self.assets.contains_key(&id)
    }

    /// A folder that exists and is not deleted.
    pub fn live_folder(&self, id: Uuid) -> Option<&FolderRecord> {
        self.folders.get(&id).filter(|f| f.deleted_at.is_none())
    }

    /// An asset that exists and is not deleted.
    pub fn live_asset(&self, id: Uuid) -> Option<&AssetRecord> {
        self.assets.get(&id).filter(|a| a.deleted_at.is_none())
    }

    /// Whether a live sibling (other than `except`) already uses `name` under `parent`.
    pub fn folder_name_taken(
        &self,
        parent: Option<Uuid>,
        name: &str,
        except: Option<Uuid>,
    ) -> bool {
        self.folders.values().any(|f| {
            f.deleted_at.is_none()
                && f.parent_id == parent
                && f.name == name
                && Some(f.id) != except
        })
    }

    /// Whether `candidate` is `folder` itself or one of its descendants.
    pub fn is_same_or_descendant(&self, candidate: Uuid, folder: Uuid) -> bool {
        let mut current = Some(candidate);
        // A bounded walk: a corrupt snapshot with a cycle must not hang the server.
        for _ in 0..=self.folders.len() {
            match current {
                Some(id) if id == folder => return true,
                Some(id) => current = self.folders.get(&id).and_then(|f| f.parent_id),
                None => return false,
            }
        }
        true
    }

    /// Whether a folder still holds live assets or live child folders.
    pub fn folder_has_children(&self, folder: Uuid) -> bool {
        self.assets
            .values()
            .any(|a| a.deleted_at.is_none() && a.folder_id == Some(folder))
            || self
                .folders
                .values()
                .any(|f| f.deleted_at.is_none() && f.parent_id == Some(folder))
    }
}

/// The current time, truncated to microseconds (the precision a database would keep).
pub(crate) fn now() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now)
}

/// The object file for a storage key, relative to the objects directory: keys hold user file
/// names, so they are hashed, and the files are spread over 256 directories by the hash's first
/// two digits. One flat directory of 200,000 files makes ext4 search ever longer for a free
/// inode near it, so uploads slowed as the store grew.
pub(crate) fn object_file_name(key: &str) -> String {
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    format!("{}/{hash}", &hash[..2])
}

/// Creates the 256 shard directories under `dir`.
fn create_shards(dir: &Path) -> std::io::Result<()> {
    for shard in 0..=255_u8 {
        std::fs::create_dir_all(dir.join(format!("{shard:02x}")))?;
    }
    Ok(())
}

/// Moves object files of the layout before shards (directly in `dir`) into their shard.
fn move_into_shards(dir: &Path) -> std::io::Result<()> {
    for dirent in std::fs::read_dir(dir)? {
        let dirent = dirent?;
        let name = dirent.file_name().to_string_lossy().into_owned();
        if name.len() == 64 && dirent.file_type()?.is_file() {
            std::fs::rename(dirent.path(), dir.join(&name[..2]).join(&name))?;
        }
    }
    Ok(())
}

/// The shared state: the model behind a mutex, plus where its blobs live.
pub(crate) struct Store {
    db: Mutex<Db>,
    root: PathBuf,
    objects_dir: PathBuf,
    tmp_dir: PathBuf,
    state_file: PathBuf,
    changes: watch::Sender<u64>,
}

impl Store {
    /// Creates the data dir layout and loads a previous snapshot if there is one.
    pub fn open(root: &Path) -> anyhow::Result<Self> {
        let objects_dir = root.join("objects");
        let tmp_dir = root.join("tmp");
        create_shards(&objects_dir)?;
        move_into_shards(&objects_dir)?;
        create_shards(&tmp_dir)?;
        let state_file = root.join("state.json");
        let db = crate::emulator::persist::load(&state_file, &objects_dir)?;
        let (changes, _) = watch::channel(0);
        Ok(Self {
            db: Mutex::new(db),
            root: root.to_owned(),
            objects_dir,
            tmp_dir,
            state_file,
            changes,
        })
    }

    /// Reads the model.
    pub fn read<R>(&self, f: impl FnOnce(&Db) -> R) -> R {
        f(&self.db.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Changes the model and schedules a snapshot.
    pub fn write<R>(&self, f: impl FnOnce(&mut Db) -> R) -> R {
        let result = f(&mut self.db.lock().unwrap_or_else(PoisonError::into_inner));
        self.changes.send_modify(|generation| *generation += 1);
        result
    }

    /// Serialises the model into `out` (for the snapshot writer), without a copy of it all in
    /// memory.
    pub fn write_snapshot(&self, out: impl std::io::Write) -> serde_json::Result<()> {
        self.read(|db| serde_json::to_writer(out, db))
    }

    /// Notified on every [`Store::write`].
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The data dir.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where committed object files live.
    pub fn object_path(&self, file_name: &str) -> PathBuf {
        self.objects_dir.join(file_name)
    }

    /// A fresh temporary file path on the same file system as the objects (for atomic renames),
    /// in a shard of the temporary directory (one directory would have every upload's file
    /// created under its one lock).
    pub fn temp_path(&self) -> PathBuf {
        let name = Uuid::new_v4().as_simple().to_string();
        self.tmp_dir.join(&name[..2]).join(format!("{name}.part"))
    }

    /// The snapshot file.
    pub fn state_file(&self) -> &Path {
        &self.state_file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(id: Uuid, parent: Option<Uuid>, name: &str) -> FolderRecord {
        let now = OffsetDateTime::now_utc();
        FolderRecord {
            id,
            parent_id: parent,
            name: name.into(),
            created_at: now,
            updated_at: now,
            deleted_at: None,
        }
    }

    #[test]
    fn folder_tree_queries() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut db = Db::default();
        db.folders.insert(a, folder(a, None, "A"));
        db.folders.insert(b, folder(b, Some(a), "B"));
        db.folders.insert(c, folder(c, Some(b), "C"));
        assert!(db.is_same_or_descendant(c, a));
        assert!(db.is_same_or_descendant(a, a));
        assert!(!db.is_same_or_descendant(a, c));
        assert!(db.folder_has_children(a));
        assert!(!db.folder_has_children(c));
        assert!(db.folder_name_taken(Some(a), "B", None));
        assert!(!db.folder_name_taken(Some(a), "B", Some(b)));
        assert!(!db.folder_name_taken(None, "B", None));
        db.folders.get_mut(&c).unwrap().deleted_at = Some(OffsetDateTime::now_utc());
        assert!(!db.folder_has_children(b));
    }
}
