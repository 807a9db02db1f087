//! Mesh files (Wavefront OBJ, PLY) and generated meshes (a UV sphere).

use std::path::Path;

use crate::accel::{Mesh, MeshError};

/// Why a mesh file cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeshFileError {
    /// Not a readable regular file of a sane size.
    #[error(transparent)]
    Input(#[from] crate::input::InputError),
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The OBJ parser failed.
    #[error(transparent)]
    Obj(#[from] tobj::LoadError),
    /// The PLY is malformed or lacks what a mesh needs (the sentence says which).
    #[error("{0}")]
    Ply(String),
    /// Neither `.obj` nor `.ply`.
    #[error("expected a .obj or .ply file")]
    Extension,
    /// The mesh read is unusable.
    #[error(transparent)]
    Mesh(#[from] MeshError),
}

/// Loads a Wavefront OBJ file's triangles (all its models; texture coordinates when
/// every vertex has them).
///
/// # Errors
/// [`MeshFileError::Obj`] with the parser's error.
pub fn load_obj(path: &Path) -> Result<Mesh, MeshFileError> {
    let (models, _) = tobj::load_obj(path, &tobj::GPU_LOAD_OPTIONS)?;
    let mut mesh = Mesh::default();
    // Texture coordinates only when every model has them for every vertex.
    let with_uvs = models
        .iter()
        .all(|m| m.mesh.texcoords.len() / 2 == m.mesh.positions.len() / 3);
    for m in models {
        let offset = mesh.positions.len() as u32;
        mesh.positions
            .extend(m.mesh.positions.chunks_exact(3).map(|p| [p[0], p[1], p[2]]));
        if with_uvs {
            // OBJ's v points up; images' rows go down.
            mesh.uvs
                .extend(m.mesh.texcoords.chunks_exact(2).map(|t| [t[0], 1.0 - t[1]]));
        }
        mesh.indices.extend(
            m.mesh
                .indices
                .chunks_exact(3)
                .map(|t| [t[0] + offset, t[1] + offset, t[2] + offset]),
        );
    }
    Ok(mesh)
}

/// Loads a mesh file by its extension: `.obj` ([`load_obj`]) or `.ply`
/// ([`load_ply`]), and checks it ([`Mesh::check`]).
///
/// # Errors
/// An unknown extension, the parser's error, or what the check finds.
pub fn load_mesh_file(path: &Path) -> Result<Mesh, MeshFileError> {
    crate::input::check_file(path, crate::input::MESH_BYTES)?;
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let mesh = match ext.as_deref() {
        Some("obj") => load_obj(path)?,
        Some("ply") => load_ply(path)?,
        _ => return Err(MeshFileError::Extension),
    };
    mesh.check()?;
    Ok(mesh)
}

/// Reads a PLY mesh (ASCII or binary): vertex positions and faces (polygons fanned
/// into triangles). Elements are parsed into small fixed records (a position, a face
/// of up to four corners inline) rather than generic property maps, so a
/// large mesh takes about the memory of its final arrays.
///
/// # Errors
/// [`MeshFileError::Io`] when the file cannot be read, [`MeshFileError::Ply`]
/// saying what is missing or malformed.
pub fn load_ply(path: &Path) -> Result<Mesh, MeshFileError> {
    let file = std::fs::File::open(path)?;
    read_ply(file).map_err(MeshFileError::Ply)
}

fn read_ply(file: std::fs::File) -> Result<Mesh, String> {
    use ply_rs_bw::parser::{Parser, Reader};
    let mut reader = Reader::new(std::io::BufReader::new(file));
    PLY_OVERFLOW.with(|o| o.borrow_mut().clear());
    let header = Parser::<PlyVertex>::new()
        .read_header(&mut reader)
        .map_err(|e| e.to_string())?;
    let mut mesh = Mesh::default();
    let (mut have_vertices, mut have_faces) = (false, false);
    for (name, def) in &header.elements {
        match name.as_str() {
            "vertex" => {
                let vertices = Parser::<PlyVertex>::new()
                    .read_payload_for_element(&mut reader, def, &header)
                    .map_err(|e| e.to_string())?;
                mesh.positions.reserve_exact(vertices.len());
                for v in vertices {
                    if v.set != 7 {
                        return Err("a vertex has no numeric 'x', 'y' or 'z'".into());
                    }
                    mesh.positions.push(v.p);
                }
                have_vertices = true;
            }
            "face" => {
                let faces = Parser::<PlyFace>::new()
                    .read_payload_for_element(&mut reader, def, &header)
                    .map_err(|e| e.to_string())?;
                mesh.indices.reserve(faces.len());
                let checked = (|| {
                    for f in &faces {
                        match f.status {
                            0 => {}
                            1 => return Err("a face has no 'vertex_indices' list".to_owned()),
                            2 => return Err("face indices are not an integer list".to_owned()),
                            _ => {
                                return Err("face index out of range (negative or huge)".to_owned());
                            }
                        }
                        let mut fan = |idx: &[u32]| {
                            if idx.iter().any(|&i| i as usize >= mesh.positions.len()) {
                                return Err(format!("face index out of range: {idx:?}"));
                            }
                            for k in 1..idx.len().saturating_sub(1) {
                                mesh.indices.push([idx[0], idx[k], idx[k + 1]]);
                            }
                            Ok(())
                        };
                        if f.overflow {
                            PLY_OVERFLOW.with(|o| fan(&o.borrow()[f.inline[0] as usize]))?;
                        } else {
                            fan(&f.inline[..usize::from(f.len)])?;
                        }
                    }
                    Ok(())
                })();
                PLY_OVERFLOW.with(|o| o.borrow_mut().clear());
                checked?;
                have_faces = true;
            }
            _ => {
                Parser::<PlyIgnored>::new()
                    .read_payload_for_element(&mut reader, def, &header)
                    .map_err(|e| e.to_string())?;
            }
        }
    }
    if !have_vertices {
        return Err("no 'vertex' element".into());
    }
    if !have_faces {
        return Err("no 'face' element".into());
    }
    Ok(mesh)
}

/// Face corners kept inline (a triangle or a quad needs no allocation).
const PLY_FACE: usize = 4;

/// A PLY vertex: its position, and which coordinates were set (bits x, y, z).
#[derive(Debug)]
struct PlyVertex {
    p: [f32; 3],
    set: u8,
}

/// A PLY face in 24 bytes: up to [`PLY_FACE`] corners inline; a larger polygon's
/// corners go to [`PLY_OVERFLOW`] and `inline[0]` indexes them.
#[derive(Debug)]
struct PlyFace {
    inline: [u32; PLY_FACE],
    len: u8,
    /// 0: fine; 1: no index list; 2: not integers; 3: an index is negative or huge.
    status: u8,
    overflow: bool,
}

thread_local! {
    /// Corners of the faces with more than [`PLY_FACE`] of them, while a file loads.
    static PLY_OVERFLOW: std::cell::RefCell<Vec<Vec<u32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// An element the loader skips (parsed, not kept).
#[derive(Debug)]
struct PlyIgnored;

fn ply_number(p: &ply_rs_bw::ply::Property) -> Option<f64> {
    use ply_rs_bw::ply::Property as P;
    Some(match *p {
        P::Char(v) => f64::from(v),
        P::UChar(v) => f64::from(v),
        P::Short(v) => f64::from(v),
        P::UShort(v) => f64::from(v),
        P::Int(v) => f64::from(v),
        P::UInt(v) => f64::from(v),
        P::Float(v) => f64::from(v),
        P::Double(v) => v,
        _ => return None,
    })
}

impl ply_rs_bw::ply::PropertyAccess for PlyVertex {
    fn new() -> Self {
        Self {
            p: [0.0; 3],
            set: 0,
        }
    }
    fn set_property(
        &mut self,
        name: &str,
        property: ply_rs_bw::ply::Property,
    ) -> ply_rs_bw::ply::PropertyAccessResult {
        let axis = match name {
            "x" => 0,
            "y" => 1,
            "z" => 2,
            _ => return ply_rs_bw::ply::PropertyAccessResult::Ignored,
        };
        if let Some(v) = ply_number(&property) {
            self.p[axis] = v as f32;
            self.set |= 1 << axis;
        }
        ply_rs_bw::ply::PropertyAccessResult::Set
    }
}

impl ply_rs_bw::ply::PropertyAccess for PlyFace {
    fn new() -> Self {
        Self {
            inline: [0; PLY_FACE],
            len: 0,
            status: 1,
            overflow: false,
        }
    }
    fn set_property(
        &mut self,
        name: &str,
        property: ply_rs_bw::ply::Property,
    ) -> ply_rs_bw::ply::PropertyAccessResult {
        use ply_rs_bw::ply::Property as P;
        if name != "vertex_indices" && name != "vertex_index" {
            return ply_rs_bw::ply::PropertyAccessResult::Ignored;
        }
        let idx: Vec<i64> = match property {
            P::ListChar(v) => v.into_iter().map(i64::from).collect(),
            P::ListUChar(v) => v.into_iter().map(i64::from).collect(),
            P::ListShort(v) => v.into_iter().map(i64::from).collect(),
            P::ListUShort(v) => v.into_iter().map(i64::from).collect(),
            P::ListInt(v) => v.into_iter().map(i64::from).collect(),
            P::ListUInt(v) => v.into_iter().map(i64::from).collect(),
            _ => {
                self.status = 2;
                return ply_rs_bw::ply::PropertyAccessResult::Set;
            }
        };
        let Ok(idx) = idx
            .into_iter()
            .map(u32::try_from)
            .collect::<Result<Vec<u32>, _>>()
        else {
            self.status = 3;
            return ply_rs_bw::ply::PropertyAccessResult::Set;
        };
        self.status = 0;
        if idx.len() <= PLY_FACE {
            self.inline[..idx.len()].copy_from_slice(&idx);
            self.len = idx.len() as u8;
        } else {
            self.overflow = true;
            self.inline[0] = PLY_OVERFLOW.with(|o| {
                let mut o = o.borrow_mut();
                o.push(idx);
                (o.len() - 1) as u32
            });
        }
        ply_rs_bw::ply::PropertyAccessResult::Set
    }
}

impl ply_rs_bw::ply::PropertyAccess for PlyIgnored {
    fn new() -> Self {
        Self
    }
}

/// A UV sphere of radius `r` around the origin, `slices` around and `stacks` from
/// pole to pole, with texture coordinates.
pub(crate) fn sphere(r: f32, slices: u32, stacks: u32) -> Mesh {
    let mut m = Mesh::default();
    for j in 0..=stacks {
        let th = std::f32::consts::PI * j as f32 / stacks as f32;
        for i in 0..=slices {
            let ph = 2.0 * std::f32::consts::PI * i as f32 / slices as f32;
            m.positions.push([
                r * th.sin() * ph.cos(),
                r * th.cos(),
                r * th.sin() * ph.sin(),
            ]);
            m.uvs
                .push([i as f32 / slices as f32, j as f32 / stacks as f32]);
        }
    }
    let w = slices + 1;
    for j in 0..stacks {
        for i in 0..slices {
            let (a, b, c, d) = (
                j * w + i,
                j * w + i + 1,
                (j + 1) * w + i,
                (j + 1) * w + i + 1,
            );
            if j > 0 {
                m.indices.push([a, b, c]);
            }
            if j + 1 < stacks {
                m.indices.push([b, d, c]);
            }
        }
    }
    m
}
