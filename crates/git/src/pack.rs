//! Reading commits straight from the repository's pack files, a batch at a time.
//!
//! This is a shortcut for the range's decoding threads, not a second object database: a commit that is not stored
//! whole in one of the packs found here (a loose object, an alternate's pack, a deltified entry) is left to gix's
//! object database, which finds everything. So is a commit that `git replace` replaced: the packs hold the original
//! under its id, and only the object database reads the replacement in its place (`Repo::range` sees to that). What the shortcut saves is the pack-index lookup: looking up one id is
//! a binary search whose probes each miss the cache on a large index, one after the other. Here a batch of ids is
//! searched in lockstep, one probe for every id in turn, so the memory reads of different ids overlap, and each search
//! starts by interpolating, as object ids are spread evenly, which takes about five probes instead of twenty.

use std::path::Path;

use gix::ObjectId;
use gix::odb::pack;

/// The packs of a repository's object directory, opened once and shared by the decoding threads.
pub(crate) struct Packs {
    packs: Vec<Pack>,
}

struct Pack {
    index: pack::index::File,
    data: pack::data::File,
}

/// Where a commit is stored: which pack, and at which offset in its data file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Location {
    pack: usize,
    offset: u64,
}

/// The largest object this shortcut inflates; anything larger is left to the object database.
const MAX_OBJECT_SIZE: u64 = 1 << 30;

impl Packs {
    /// Opens every pack in `objects/pack`. A pack that cannot be opened is skipped: its objects are still found
    /// through the object database.
    pub(crate) fn open(repo: &gix::Repository) -> Self {
        let hash = repo.object_hash();
        let dir = repo.objects.store_ref().path().join("pack");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Self { packs: Vec::new() };
        };
        let mut packs: Vec<Pack> = entries
            .filter_map(|entry| {
                let path = entry.ok()?.path();
                (path.extension()? == "idx").then_some(())?;
                open_pack(&path, hash)
            })
            .collect();
        // The largest pack first: it holds most commits, so most ids are searched in one index only.
        packs.sort_by_key(|p| std::cmp::Reverse(p.index.num_objects()));
        Self { packs }
    }

    /// Finds each of `ids` in the packs: `found[i]` is where `ids[i]` is stored, or `None` if no pack has it.
    pub(crate) fn locate(&self, ids: &[ObjectId], found: &mut Vec<Option<Location>>) {
        found.clear();
        found.resize(ids.len(), None);
        let mut searches: Vec<Search> = Vec::with_capacity(ids.len());
        for (pack_no, pack) in self.packs.iter().enumerate() {
            searches.clear();
            let unfound = found.iter().enumerate().filter(|(_, place)| place.is_none());
            searches.extend(unfound.map(|(i, _)| Search::new(i, pack.index.num_objects())));
            if searches.is_empty() {
                break;
            }
            // Searches in lockstep: each round takes one step of every unfinished search.
            while !searches.is_empty() {
                searches.retain_mut(|search| {
                    let id = &ids[search.id];
                    let mid = search.next(prefix(id));
                    let entry = pack.index.oid_at_index(mid);
                    match prefix(entry).cmp(&prefix(id)).then_with(|| entry.cmp(id)) {
                        std::cmp::Ordering::Equal => {
                            found[search.id] =
                                Some(Location { pack: pack_no, offset: pack.index.pack_offset_at_index(mid) });
                            return false;
                        }
                        std::cmp::Ordering::Less => (search.lo, search.lo_key) = (mid + 1, prefix(entry)),
                        std::cmp::Ordering::Greater => (search.hi, search.hi_key) = (mid, prefix(entry)),
                    }
                    search.steps += 1;
                    search.lo < search.hi
                });
            }
        }
    }

    /// The commit stored at `at`, inflated into `buf`. `Ok(None)` when the entry is not a whole commit (a delta,
    /// or another kind of object), which the object database then reads.
    pub(crate) fn commit<'b>(
        &self,
        at: Location,
        inflate: &mut gix_zlib::Inflate,
        buf: &'b mut Vec<u8>,
    ) -> Result<Option<&'b [u8]>, String> {
        let Some(pack) = self.packs.get(at.pack) else {
            return Ok(None);
        };
        let entry = pack.data.entry(at.offset).map_err(|e| e.to_string())?;
        if entry.header != pack::data::entry::Header::Commit || entry.decompressed_size > MAX_OBJECT_SIZE {
            return Ok(None);
        }
        let size = entry.decompressed_size as usize;
        let input = pack
            .data
            .entry_slice(entry.data_offset..pack.data.pack_end() as u64)
            .ok_or("the pack entry lies beyond the end of the pack")?;
        buf.clear();
        buf.resize(size, 0);
        inflate.reset();
        let (status, _, written) = inflate.once(input, buf).map_err(|e| e.to_string())?;
        if status != gix_zlib::Status::StreamEnd || written != size {
            return Err("the pack entry does not inflate to the size its header gives".into());
        }
        Ok(Some(buf))
    }
}

/// One search of the lockstep: the id's number in the batch, and the index range `lo..hi` still to search with the
/// first eight bytes of the ids around it (`lo_key` of the entry before `lo`, `hi_key` of the entry at `hi`).
struct Search {
    id: usize,
    lo: u32,
    hi: u32,
    lo_key: u64,
    hi_key: u64,
    steps: u32,
}

impl Search {
    fn new(id: usize, entries: u32) -> Self {
        Self { id, lo: 0, hi: entries, lo_key: 0, hi_key: u64::MAX, steps: 0 }
    }

    /// The entry to compare next. Object ids are uniformly distributed, so the first few steps guess where the id
    /// lies between the keys around the range (interpolation), which ends in a few steps where halving takes
    /// twenty; later steps halve, which bounds the search whatever the ids are.
    fn next(&self, key: u64) -> u32 {
        let span = self.hi - self.lo;
        if self.steps >= INTERPOLATION_STEPS || span <= 8 {
            return self.lo + span / 2;
        }
        // `lo_key <= key <= hi_key` in a sorted index, so the offset is below `span`; clamped all the same.
        let offset = u128::from(key.saturating_sub(self.lo_key)) * u128::from(span)
            / (u128::from(self.hi_key.saturating_sub(self.lo_key)) + 1);
        self.lo + u32::try_from(offset).unwrap_or(span - 1).min(span - 1)
    }
}

/// How many steps of a search interpolate before the rest halve.
const INTERPOLATION_STEPS: u32 = 4;

/// The first eight bytes of an object id as a number, in the index's order.
fn prefix(id: &gix::oid) -> u64 {
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&id.as_bytes()[..8]);
    u64::from_be_bytes(bytes)
}

fn open_pack(index_path: &Path, hash: gix::hash::Kind) -> Option<Pack> {
    let index = pack::index::File::at(index_path, hash).ok()?;
    let data = pack::data::File::at(index_path.with_extension("pack"), hash).ok()?;
    (index.num_objects() > 0 && index.num_objects() == data.num_objects()).then_some(Pack { index, data })
}
