//! PNG plots for `moose sim`: how MOOSE and classic learning Ethernet scale
//! with the number of hosts in a fabric.
//!
//! Everything is pure Rust: plotters' bitmap backend draws the frame, grid
//! and series; text is DejaVu Sans, embedded by the `dejavu` crate, so no
//! system fonts or fontconfig are needed where the simulation runs. The text
//! is laid out and rasterised here with ab_glyph, because plotters' own
//! ab_glyph renderer drops each glyph's side bearing and spaces letters
//! unevenly ("for warding"). The font is registered with plotters as well,
//! so text that plotters lays out itself renders rather than failing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

/// One simulated fabric size.
#[derive(Clone, Debug)]
pub struct SizePoint {
    pub hosts: u64,
    /// Largest forwarding table of any switch (entries).
    pub entries_moose: u64,
    pub entries_ethernet: u64,
    /// ARP frames received per host (mean) when every host resolves its peers.
    pub arp_per_host_moose: f64,
    pub arp_per_host_ethernet: f64,
    /// ARP frames carried by the busiest fabric link.
    pub arp_per_link_moose: f64,
    pub arp_per_link_ethernet: f64,
}

/// File name of the forwarding-table plot.
pub const TABLE_SIZE_PNG: &str = "table-size.png";
/// File name of the ARP broadcast-load plot.
pub const BROADCAST_LOAD_PNG: &str = "broadcast-load.png";

/// Values below this are drawn at this value: a log axis has no zero.
const FLOOR: f64 = 0.1;
/// Values above this are drawn at this value, to keep the axis finite.
const CEIL: f64 = 1e18;
const SIZE: (u32, u32) = (1024, 680);
const TITLE_PX: f32 = 26.0;
const DESC_PX: f32 = 18.0;
const TICK_PX: f32 = 15.0;
const LEGEND_PX: f32 = 16.0;

const TEXT: RGBColor = RGBColor(0x20, 0x20, 0x20);
const MOOSE: RGBColor = RGBColor(0x1f, 0x5f, 0xbf);
const MOOSE_LINK: RGBColor = RGBColor(0x2c, 0xa0, 0x8c);
const ETHERNET: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const ETHERNET_LINK: RGBColor = RGBColor(0xff, 0x8c, 0x00);

/// Writes `table-size.png` (entries per switch vs hosts) and `broadcast-load.png`
/// (ARP per host and per busiest link vs hosts) into `dir` (created if missing);
/// returns the paths written.
pub fn plot(dir: &Path, title: &str, points: &[SizePoint]) -> Result<Vec<PathBuf>, String> {
    let font = face()?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;

    // Sorted by hosts so lines run left to right; a log axis has no place
    // for a fabric of 0 hosts, so such a point is left out.
    let mut pts: Vec<&SizePoint> = points.iter().filter(|p| p.hosts > 0).collect();
    pts.sort_by_key(|p| p.hosts);

    let table = dir.join(TABLE_SIZE_PNG);
    let table_series = [
        Series {
            label: "MOOSE",
            color: MOOSE,
            dashed: false,
            marker: Marker::Circle,
            data: xy(&pts, |p| p.entries_moose as f64),
        },
        Series {
            label: "Ethernet (learning)",
            color: ETHERNET,
            dashed: false,
            marker: Marker::Square,
            data: xy(&pts, |p| p.entries_ethernet as f64),
        },
    ];
    draw_chart(
        font,
        &table,
        &format!("{title}: forwarding table size"),
        "largest table of any switch (entries)",
        &table_series,
    )
    .map_err(|e| format!("{}: {e}", table.display()))?;

    let load = dir.join(BROADCAST_LOAD_PNG);
    let load_series = [
        Series {
            label: "MOOSE, ARP per host",
            color: MOOSE,
            dashed: false,
            marker: Marker::Circle,
            data: xy(&pts, |p| p.arp_per_host_moose),
        },
        Series {
            label: "MOOSE, directory messages on busiest link",
            color: MOOSE_LINK,
            dashed: true,
            marker: Marker::Triangle,
            data: xy(&pts, |p| p.arp_per_link_moose),
        },
        Series {
            label: "Ethernet, ARP per host",
            color: ETHERNET,
            dashed: false,
            marker: Marker::Square,
            data: xy(&pts, |p| p.arp_per_host_ethernet),
        },
        Series {
            label: "Ethernet, ARP on busiest link",
            color: ETHERNET_LINK,
            dashed: true,
            marker: Marker::Diamond,
            data: xy(&pts, |p| p.arp_per_link_ethernet),
        },
    ];
    draw_chart(
        font,
        &load,
        &format!("{title}: ARP broadcast load"),
        "ARP frames",
        &load_series,
    )
    .map_err(|e| format!("{}: {e}", load.display()))?;

    Ok(vec![table, load])
}

/// DejaVu Sans, parsed once per process, and registered once with plotters
/// as "sans-serif" (the family plotters' own text defaults to).
fn face() -> Result<&'static FontRef<'static>, String> {
    static FACE: OnceLock<Result<FontRef<'static>, String>> = OnceLock::new();
    FACE.get_or_init(|| {
        let bytes = dejavu::sans::regular();
        const BAD: &str = "sim_plot: the embedded DejaVu Sans font could not be parsed";
        register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| BAD.to_string())?;
        FontRef::try_from_slice(bytes).map_err(|_| BAD.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
}

#[derive(Clone, Copy)]
enum Marker {
    Circle,
    Square,
    Triangle,
    Diamond,
}

struct Series {
    label: &'static str,
    color: RGBColor,
    dashed: bool,
    marker: Marker,
    /// (hosts, value) with the value already clamped to `FLOOR..=CEIL`.
    data: Vec<(f64, f64)>,
}

/// One series' points. Non-finite values are left out; values below `FLOOR`
/// (0 included) are drawn at `FLOOR`, and values above `CEIL` at `CEIL`.
fn xy(pts: &[&SizePoint], value: impl Fn(&SizePoint) -> f64) -> Vec<(f64, f64)> {
    pts.iter()
        .filter_map(|p| {
            let v = value(p);
            v.is_finite()
                .then(|| (p.hosts as f64, v.clamp(FLOOR, CEIL)))
        })
        .collect()
}

/// A log range holding `lo..=hi` with some room on both ends, at least a
/// decade wide so the axis always has labelled ticks.
fn log_bounds(lo: f64, hi: f64) -> (f64, f64) {
    let lo = if lo.is_finite() && lo > 0.0 { lo } else { 1.0 };
    let hi = if hi.is_finite() && hi >= lo { hi } else { lo };
    let (mut a, mut b) = (lo / 1.6, hi * 1.6);
    if b / a < 10.0 {
        let widen = (10.0 / (b / a)).sqrt();
        a /= widen;
        b *= widen;
    }
    (a, b)
}

type Area<'b> = DrawingArea<BitMapBackend<'b>, Shift>;

/// A grid line on a log axis: `major` on powers of ten; `label` where a
/// tick label goes.
#[derive(Debug)]
struct Tick {
    value: f64,
    major: bool,
    label: bool,
}

/// Grid lines at 1..9 × 10^k inside `lo..=hi`. Labels on every power of ten
/// (every other one past 15 decades), and on 2 and 5 × 10^k as well when the
/// range is short enough to have few powers of ten.
fn log_ticks(lo: f64, hi: f64) -> Vec<Tick> {
    let span = (hi / lo).log10();
    let (first, last) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let every = if span > 15.0 { 2 } else { 1 };
    let mut ticks = Vec::new();
    for k in first..=last {
        let decade = 10f64.powi(k);
        for m in 1..=9 {
            let value = f64::from(m) * decade;
            // A hair of slack so a bound computed as 10^k still counts.
            if value < lo * (1.0 - 1e-9) || value > hi * (1.0 + 1e-9) {
                continue;
            }
            let label = match m {
                1 => k.rem_euclid(every) == 0,
                2 | 5 => span < 2.2,
                _ => false,
            };
            ticks.push(Tick {
                value,
                major: m == 1,
                label,
            });
        }
    }
    ticks
}

fn draw_chart(
    font: &FontRef<'static>,
    path: &Path,
    caption: &str,
    y_desc: &str,
    series: &[Series],
) -> Result<(), String> {
    let all = || series.iter().flat_map(|s| s.data.iter());
    let (x0, x1) = log_bounds(
        all().map(|p| p.0).fold(f64::INFINITY, f64::min),
        all().map(|p| p.0).fold(0.0, f64::max),
    );
    let (y0, y1) = log_bounds(
        all().map(|p| p.1).fold(f64::INFINITY, f64::min),
        all().map(|p| p.1).fold(0.0, f64::max),
    );
    // The floor is where a zero ends up: say so on the axis.
    let y_desc = if all().any(|p| p.1 <= FLOOR) {
        format!("{y_desc}   (0 drawn at {})", fmt_num(FLOOR))
    } else {
        y_desc.to_string()
    };

    let root = BitMapBackend::new(path, SIZE).into_drawing_area();
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let text = Painter { font, area: &root };
    text.draw(
        caption,
        (SIZE.0 as i32 / 2, 14),
        TITLE_PX,
        Align::Middle,
        Align::Start,
        false,
    )?;

    let mut chart = ChartBuilder::on(&root)
        .margin(16)
        .margin_top(56)
        .x_label_area_size(58)
        .y_label_area_size(88)
        .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
        .map_err(e)?;
    let (px, py) = chart.plotting_area().get_pixel_range();
    let (left, right, top, bottom) = (px.start, px.end - 1, py.start, py.end - 1);

    // Grid and axes, drawn here rather than by plotters' mesh so that the
    // labels below sit exactly on their lines.
    let (xt, yt) = (log_ticks(x0, x1), log_ticks(y0, y1));
    let light = RGBColor(0xee, 0xee, 0xee);
    let bold = RGBColor(0xc8, 0xc8, 0xc8);
    let line = |a: (i32, i32), b: (i32, i32), c: RGBColor| {
        root.draw(&PathElement::new(vec![a, b], c)).map_err(e)
    };
    for major in [false, true] {
        let color = if major { bold } else { light };
        for t in xt.iter().filter(|t| t.major == major) {
            let x = chart.backend_coord(&(t.value, y0)).0;
            line((x, top), (x, bottom), color)?;
        }
        for t in yt.iter().filter(|t| t.major == major) {
            let y = chart.backend_coord(&(x0, t.value)).1;
            line((left, y), (right, y), color)?;
        }
    }
    line((left, top), (left, bottom), BLACK)?;
    line((left, bottom), (right, bottom), BLACK)?;
    // Hosts come whole: no 0.5 on that axis, even around a 1-host fabric.
    for t in xt.iter().filter(|t| t.label && t.value >= 1.0) {
        let x = chart.backend_coord(&(t.value, y0)).0;
        line((x, bottom), (x, bottom + 5), BLACK)?;
        let at = (x, bottom + 9);
        text.draw(
            &fmt_num(t.value),
            at,
            TICK_PX,
            Align::Middle,
            Align::Start,
            false,
        )?;
    }
    for t in yt.iter().filter(|t| t.label) {
        let y = chart.backend_coord(&(x0, t.value)).1;
        line((left - 5, y), (left, y), BLACK)?;
        let at = (left - 9, y);
        text.draw(
            &fmt_num(t.value),
            at,
            TICK_PX,
            Align::End,
            Align::Middle,
            false,
        )?;
    }
    let mid = ((left + right) / 2, (top + bottom) / 2);
    let foot = SIZE.1 as i32 - 12;
    text.draw(
        "hosts in the fabric",
        (mid.0, foot),
        DESC_PX,
        Align::Middle,
        Align::End,
        false,
    )?;
    text.draw(
        &y_desc,
        (14, mid.1),
        DESC_PX,
        Align::Middle,
        Align::Start,
        true,
    )?;

    for s in series {
        draw_series(&mut chart, &root, s)?;
    }
    draw_legend(&text, (left + 12, top + 12), series)?;
    root.present().map_err(e)?;
    Ok(())
}

type Chart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<LogCoord<f64>, LogCoord<f64>>>;

/// A series' line on the chart, and its markers on `root` (backend pixels).
fn draw_series(chart: &mut Chart<'_, '_>, root: &Area<'_>, s: &Series) -> Result<(), String> {
    let line = s.color.stroke_width(2);
    let data = s.data.iter().copied();
    if s.dashed {
        chart.draw_series(DashedLineSeries::new(data.clone(), 8, 5, line))
    } else {
        chart.draw_series(LineSeries::new(data.clone(), line))
    }
    .map_err(|e| e.to_string())?;
    for p in data {
        let at = chart.backend_coord(&p);
        draw_marker(root, s.marker, at, s.color)?;
    }
    Ok(())
}

/// A marker centred on `at`, in backend pixels.
fn draw_marker(
    area: &Area<'_>,
    marker: Marker,
    at: (i32, i32),
    color: RGBColor,
) -> Result<(), String> {
    let style = color.filled();
    let (x, y) = at;
    match marker {
        Marker::Circle => area.draw(&Circle::new(at, 4, style)),
        Marker::Square => area.draw(&Rectangle::new([(x - 4, y - 4), (x + 4, y + 4)], style)),
        Marker::Triangle => area.draw(&TriangleMarker::new(at, 6, style)),
        Marker::Diamond => area.draw(&Polygon::new(
            vec![(x, y - 6), (x + 6, y), (x, y + 6), (x - 6, y)],
            style,
        )),
    }
    .map_err(|e| e.to_string())
}

/// The legend box, top left corner at `at`: a line-and-marker sample and the
/// label of each series.
fn draw_legend(text: &Painter<'_, '_>, at: (i32, i32), series: &[Series]) -> Result<(), String> {
    let (row, sample, pad) = (24, 28, 10);
    let widest = series
        .iter()
        .map(|s| text.width(s.label, LEGEND_PX))
        .fold(0.0f32, f32::max)
        .ceil() as i32;
    let (x0, y0) = at;
    let x1 = x0 + pad + sample + 8 + widest + pad;
    let y1 = y0 + pad + row * series.len() as i32 + pad - 6;
    let area = text.area;
    let e = |e: DrawingAreaErrorKind<_>| e.to_string();
    area.draw(&Rectangle::new(
        [(x0, y0), (x1, y1)],
        WHITE.mix(0.9).filled(),
    ))
    .map_err(e)?;
    area.draw(&Rectangle::new([(x0, y0), (x1, y1)], BLACK.mix(0.6)))
        .map_err(e)?;
    for (i, s) in series.iter().enumerate() {
        let y = y0 + pad + row * i as i32 + (row - 6) / 2;
        let (sx0, sx1) = (x0 + pad, x0 + pad + sample);
        let line = s.color.stroke_width(2);
        if s.dashed {
            area.draw(&PathElement::new(vec![(sx0, y), (sx0 + 8, y)], line))
                .map_err(e)?;
            area.draw(&PathElement::new(vec![(sx1 - 8, y), (sx1, y)], line))
                .map_err(e)?;
        } else {
            area.draw(&PathElement::new(vec![(sx0, y), (sx1, y)], line))
                .map_err(e)?;
        }
        draw_marker(area, s.marker, ((sx0 + sx1) / 2, y), s.color)?;
        text.draw(
            s.label,
            (sx1 + 8, y),
            LEGEND_PX,
            Align::Start,
            Align::Middle,
            false,
        )?;
    }
    Ok(())
}

/// Where the anchor point sits on the text: along it (start, middle, end) or
/// across it (top, middle, bottom of the line box).
#[derive(Clone, Copy)]
enum Align {
    Start,
    Middle,
    End,
}

/// Text rendering with correct glyph placement (side bearings, kerning,
/// sub-pixel pen positions), anti-aliased onto the bitmap.
struct Painter<'f, 'b> {
    font: &'f FontRef<'static>,
    area: &'f Area<'b>,
}

impl Painter<'_, '_> {
    /// Advance width of `s` in pixels; `px` is ab_glyph's `PxScale`, the
    /// font's line height (ascent to descent) in pixels.
    fn width(&self, s: &str, px: f32) -> f32 {
        let sf = self.font.as_scaled(PxScale::from(px));
        let mut w = 0.0;
        let mut prev = None;
        for c in s.chars() {
            let id = sf.glyph_id(c);
            if let Some(p) = prev {
                w += sf.kern(p, id);
            }
            w += sf.h_advance(id);
            prev = Some(id);
        }
        w
    }

    /// Draws `s` with the anchor `at` placed per `along`/`across`; `up`
    /// turns the text to read bottom to top (its top faces left).
    fn draw(
        &self,
        s: &str,
        at: (i32, i32),
        px: f32,
        along: Align,
        across: Align,
        up: bool,
    ) -> Result<(), String> {
        let sf = self.font.as_scaled(PxScale::from(px));
        let (ascent, descent) = (sf.ascent(), sf.descent());
        let width = self.width(s, px);
        // Text space: u along the text from the anchor, v down from it.
        let mut pen = match along {
            Align::Start => 0.0,
            Align::Middle => -width / 2.0,
            Align::End => -width,
        };
        let baseline = match across {
            Align::Start => ascent,
            Align::Middle => (ascent + descent) / 2.0,
            Align::End => descent,
        };
        let mut pixels = Vec::new();
        let mut prev = None;
        for c in s.chars() {
            let id = sf.glyph_id(c);
            if let Some(p) = prev {
                pen += sf.kern(p, id);
            }
            prev = Some(id);
            let glyph = id.with_scale_and_position(sf.scale(), point(pen, baseline));
            pen += sf.h_advance(id);
            let Some(outline) = self.font.outline_glyph(glyph) else {
                continue; // a space, or a glyph with no ink
            };
            let b = outline.px_bounds();
            outline.draw(|gx, gy, cover| {
                let u = b.min.x as i32 + gx as i32;
                let v = b.min.y as i32 + gy as i32;
                let p = if up {
                    (at.0 + v, at.1 - u)
                } else {
                    (at.0 + u, at.1 + v)
                };
                pixels.push((p, cover));
            });
        }
        for (p, cover) in pixels {
            if cover > 0.0 {
                let color = TEXT.mix(f64::from(cover.min(1.0)));
                self.area.draw_pixel(p, &color).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
}

/// Tick label: 0.1, 0.5, 2, 50, 1k, 20k, 1M, ...
fn fmt_num(v: f64) -> String {
    let a = v.abs();
    let (div, suffix) = if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / div;
    let s = if (x - x.round()).abs() < 1e-9 {
        format!("{}", x.round())
    } else if a >= 1.0 {
        format!("{x:.1}")
    } else {
        // Small values: enough digits to tell 0.1 from 0.2.
        let s = format!("{x:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    format!("{s}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(tag: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let d = std::env::temp_dir().join(format!(
            "moose-sim-plot-{tag}-{}-{nanos}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn sample() -> Vec<SizePoint> {
        [16u64, 128, 1024, 8192]
            .iter()
            .map(|&h| SizePoint {
                hosts: h,
                entries_moose: 64 + h / 64,
                entries_ethernet: h,
                arp_per_host_moose: 1.0,
                arp_per_host_ethernet: (h - 1) as f64,
                arp_per_link_moose: (h as f64).sqrt(),
                arp_per_link_ethernet: (h * (h - 1)) as f64,
            })
            .collect()
    }

    fn check_png(p: &Path) {
        let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(
            &bytes[..8],
            b"\x89PNG\r\n\x1a\n",
            "{} is not a PNG",
            p.display()
        );
        assert!(
            bytes.len() > 8 * 1024,
            "{} is only {} bytes",
            p.display(),
            bytes.len()
        );
    }

    #[test]
    fn writes_both_pngs() {
        let dir = tempdir("basic").join("nested");
        let paths = plot(&dir, "4-point test", &sample()).expect("plot");
        assert_eq!(paths.len(), 2);
        assert_eq!(paths[0], dir.join(TABLE_SIZE_PNG));
        assert_eq!(paths[1], dir.join(BROADCAST_LOAD_PNG));
        for p in &paths {
            check_png(p);
        }
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    #[test]
    fn zero_values_do_not_panic() {
        let dir = tempdir("zeros");
        let mut pts = sample();
        for p in &mut pts {
            p.entries_moose = 0;
            p.arp_per_host_moose = 0.0;
            p.arp_per_link_moose = 0.0;
        }
        // Odd input too: a 0-host fabric, non-finite, negative and huge
        // numbers.
        pts.push(SizePoint {
            hosts: 0,
            entries_moose: 0,
            entries_ethernet: 0,
            arp_per_host_moose: 0.0,
            arp_per_host_ethernet: f64::NAN,
            arp_per_link_moose: f64::INFINITY,
            arp_per_link_ethernet: -1.0,
        });
        pts.push(SizePoint {
            hosts: u64::MAX,
            entries_moose: u64::MAX,
            entries_ethernet: u64::MAX,
            arp_per_host_moose: f64::MAX,
            arp_per_host_ethernet: 1e300,
            arp_per_link_moose: f64::NEG_INFINITY,
            arp_per_link_ethernet: f64::MIN_POSITIVE,
        });
        let paths = plot(&dir, "zeros", &pts).expect("plot");
        for p in &paths {
            check_png(p);
        }

        // Everything zero, one point, and no points at all.
        let one = vec![SizePoint {
            hosts: 1,
            entries_moose: 0,
            entries_ethernet: 0,
            arp_per_host_moose: 0.0,
            arp_per_host_ethernet: 0.0,
            arp_per_link_moose: 0.0,
            arp_per_link_ethernet: 0.0,
        }];
        plot(&dir, "all zero", &one).expect("plot all-zero");
        plot(&dir, "empty", &[]).expect("plot empty");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn error_names_the_file() {
        // A regular file where the directory should be.
        let dir = tempdir("err");
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let err = plot(&file, "t", &sample()).unwrap_err();
        assert!(err.contains("not-a-dir"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Dark pixels after drawing `s` on a white bitmap, and the ink's
    /// bounding columns.
    fn ink(s: &str, up: bool) -> (usize, usize, usize) {
        let font = face().expect("font");
        let (w, h) = (240u32, 240u32);
        let mut buf = vec![255u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            let p = Painter { font, area: &root };
            p.draw(s, (120, 120), 24.0, Align::Middle, Align::Middle, up)
                .expect("draw text");
            root.present().expect("present");
        }
        let dark: Vec<usize> = buf
            .chunks(3)
            .enumerate()
            .filter(|(_, px)| px[0] < 128)
            .map(|(i, _)| i % w as usize)
            .collect();
        let lo = dark.iter().copied().min().unwrap_or(0);
        let hi = dark.iter().copied().max().unwrap_or(0);
        (dark.len(), lo, hi)
    }

    /// Text really renders (no silently dropped glyphs), centred on its
    /// anchor, and the rotated label stands upright in a narrow column.
    #[test]
    fn text_renders() {
        let (n, lo, hi) = ink("MOOSE", false);
        assert!(n > 100, "only {n} dark pixels: text was not drawn");
        assert!(
            (lo as i32 + hi as i32 - 240).abs() <= 4,
            "not centred: {lo}..{hi}"
        );
        assert!(hi - lo > 60, "too narrow: {lo}..{hi}");
        let (n_up, lo, hi) = ink("MOOSE", true);
        assert!(n_up > 100, "rotated text was not drawn");
        assert!(hi - lo < 30, "rotated text is {lo}..{hi} wide");
        assert_eq!(ink(" ", false).0, 0);
        // Plotters' renderer has the font too (it lays out the empty labels).
        let face = FontDesc::new(FontFamily::SansSerif, 20.0, FontStyle::Normal);
        assert!(face.box_size("MOOSE").expect("plotters layout").0 > 40);
    }

    #[test]
    fn ticks_on_log_axes() {
        let labels = |lo, hi| -> Vec<f64> {
            log_ticks(lo, hi)
                .into_iter()
                .filter(|t| t.label)
                .map(|t| t.value)
                .collect()
        };
        // Wide: powers of ten only.
        assert_eq!(labels(10.0, 26_000.0), vec![10.0, 100.0, 1e3, 1e4]);
        // One decade around a single point: 2 and 5 too.
        assert_eq!(labels(15.2, 151.7), vec![20.0, 50.0, 100.0]);
        // Very wide: every other power of ten.
        assert_eq!(labels(0.05, 5e16).len(), 9);
        let t = log_ticks(15.2, 151.7);
        assert_eq!(t.len(), 9); // 20..=90, 100
        assert!(t.iter().filter(|t| t.major).all(|t| t.value == 100.0));
    }

    #[test]
    fn tick_labels() {
        assert_eq!(fmt_num(0.1), "0.1");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(1.0), "1");
        assert_eq!(fmt_num(20.0), "20");
        assert_eq!(fmt_num(1000.0), "1k");
        assert_eq!(fmt_num(50_000.0), "50k");
        assert_eq!(fmt_num(2_000_000.0), "2M");
    }
}
