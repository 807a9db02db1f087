//! The `--camera` argument of `grin render` and `grin-preview` (shared source).

/// Parses `px,py,pz,lx,ly,lz[,fov]`.
pub(crate) fn parse_camera(s: &str) -> Result<(glam::DVec3, glam::DVec3, Option<f64>), String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("expected px,py,pz,lx,ly,lz[,fov], got {s:?}"))?;
    if !(v.len() == 6 || v.len() == 7) || v.iter().any(|x| !x.is_finite()) {
        return Err(format!("expected 6 or 7 finite numbers, got {s:?}"));
    }
    let (p, l) = (
        glam::DVec3::new(v[0], v[1], v[2]),
        glam::DVec3::new(v[3], v[4], v[5]),
    );
    if p == l || v.get(6).is_some_and(|f| !(0.0 < *f && *f < 180.0)) {
        return Err(format!("{s:?}: eye and target must differ, 0 < fov < 180"));
    }
    Ok((p, l, v.get(6).copied()))
}
