//! The ratios of the comparison as horizontal bars on a log scale: how many times faster
//! parmemo ran each workload than the best Python implementation, with each goal marked.

use crate::workloads::Failure;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// One workload's row of `ratios.tsv`: label, ratio to the fastest Python, and the goal
/// on that same scale (0 when there is none).
struct Bar {
    label: String,
    ratio: f64,
    goal: Option<f64>,
}

fn read(ratios: &Path) -> Result<Vec<Bar>, Failure> {
    let text = std::fs::read_to_string(ratios)
        .map_err(|err| format!("cannot read {}: {err}", ratios.display()))?;
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let [label, ratio, goal] = fields[..] else {
                return Err(format!("expected label, ratio and goal in {line:?}").into());
            };
            let goal: f64 = goal.parse()?;
            Ok(Bar {
                label: label.to_owned(),
                ratio: ratio.parse()?,
                goal: (goal > 0.0).then_some(goal),
            })
        })
        .collect()
}

/// Draws `ratios` (as written by report.py) into the SVG file `svg`.
pub fn draw(ratios: &Path, svg: &Path) -> Result<(), Failure> {
    let bars = read(ratios)?;
    if bars.is_empty() {
        return Err(format!("{} holds no ratios", ratios.display()).into());
    }
    let largest = bars
        .iter()
        .flat_map(|bar| [bar.ratio, bar.goal.unwrap_or(0.0)])
        .fold(10.0, f64::max);
    let smallest = bars.iter().map(|bar| bar.ratio).fold(1.0, f64::min);
    let x_range = (smallest / 2.0)..(largest * 3.0);
    let rows = i32::try_from(bars.len())?;
    let height = 90 + 36 * u32::try_from(bars.len())?;

    let root = SVGBackend::new(svg, (1000, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "parmemo vs the fastest of numpy / numba / joblib: times faster (log scale)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(310)
        .build_cartesian_2d(x_range.log_scale(), (0..rows).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(bars.len())
        .y_label_formatter(&|segment| match segment {
            SegmentValue::CenterOf(row) => usize::try_from(*row)
                .ok()
                .and_then(|row| bars.len().checked_sub(row + 1))
                .and_then(|index| bars.get(index))
                .map(|bar| bar.label.clone())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .x_label_formatter(&|x| format!("{x:.0}x"))
        .x_desc("ticks: the goals, on the same scale; red: a goal missed")
        .draw()?;

    let blue = RGBColor(49, 110, 181);
    let red = RGBColor(200, 60, 50);
    for (row, bar) in (0..rows).rev().zip(&bars) {
        let color = if bar.goal.is_some_and(|goal| bar.ratio < goal) {
            red
        } else {
            blue
        };
        let mut rectangle = Rectangle::new(
            [
                (smallest / 2.0, SegmentValue::Exact(row)),
                (bar.ratio, SegmentValue::Exact(row + 1)),
            ],
            color.mix(0.85).filled(),
        );
        rectangle.set_margin(5, 5, 0, 0);
        chart.draw_series(std::iter::once(rectangle))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{:.1}x", bar.ratio),
            (bar.ratio * 1.1, SegmentValue::CenterOf(row)),
            TextStyle::from(("sans-serif", 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center)),
        )))?;
        if let Some(goal) = bar.goal {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![
                    (goal, SegmentValue::Exact(row)),
                    (goal, SegmentValue::Exact(row + 1)),
                ],
                BLACK.stroke_width(3),
            )))?;
        }
    }
    chart.draw_series(std::iter::once(PathElement::new(
        vec![
            (1.0, SegmentValue::Exact(0)),
            (1.0, SegmentValue::Exact(rows)),
        ],
        BLACK.mix(0.5).stroke_width(1),
    )))?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_names_every_workload_and_ratio() {
        let dir = std::env::temp_dir().join(format!("parmemo-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ratios = dir.join("ratios.tsv");
        std::fs::write(
            &ratios,
            "Walsh median\t201.9\t150\npdf\t1.1\t2\ntiny tasks\t960\t0\n",
        )
        .unwrap();
        let svg = dir.join("chart.svg");
        draw(&ratios, &svg).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        for expected in [
            "Walsh median",
            "pdf",
            "tiny tasks",
            "201.9x",
            "1.1x",
            "960.0x",
        ] {
            assert!(text.contains(expected), "{expected} is not in the chart");
        }
        // The short bar (under its goal) is drawn red.
        assert!(text.contains("#C83C32"), "a missed goal is not red");
    }

    #[test]
    fn a_malformed_line_is_an_error_that_quotes_it() {
        let dir = std::env::temp_dir().join(format!("parmemo-chart-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ratios = dir.join("ratios.tsv");
        std::fs::write(&ratios, "only a label\n").unwrap();
        let error = draw(&ratios, &dir.join("chart.svg"))
            .unwrap_err()
            .to_string();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(error.contains("only a label"), "{error}");
    }
}
