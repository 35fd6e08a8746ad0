//! `demud archive`: the downlink loop from the command line (init, rank with feedback, fold,
//! status), its refusals, and the MSL surface data set's layout through the network.

mod common;
use common::{fails, ok, rows, s};
use std::path::{Path, PathBuf};

/// A day's items as CSV: ids `<day>-<i>`, 6 features, one novel item per day.
fn day_csv(dir: &Path, day: usize, n: usize) -> PathBuf {
    let mut text = String::from("id,a,b,c,d,e,f\n");
    for i in 0..n {
        let mut v: Vec<f64> = (0..6)
            .map(|j| ((i * 7 + j * 3 + day * 5) % 11) as f64 * 0.1 + j as f64)
            .collect();
        if i == day {
            v[day % 6] += 9.0;
        }
        let cells: Vec<String> = v.iter().map(|x| x.to_string()).collect();
        text += &format!("d{day}-{i},{}\n", cells.join(","));
    }
    let path = dir.join(format!("day{day}.csv"));
    std::fs::write(&path, text).unwrap();
    path
}

fn selected_ids(run: &Path) -> Vec<String> {
    rows(&run.join("selections.csv"))
        .into_iter()
        .map(|r| r[2].clone())
        .collect()
}

#[test]
fn a_downlink_loop_ranks_each_day_as_discover_with_the_earlier_days_as_prior() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let archive = dir.join("archive");
    let days: Vec<PathBuf> = (1..=3).map(|d| day_csv(dir, d, 20)).collect();
    let said = ok(&[
        "archive",
        "init",
        "--archive",
        s(&archive),
        "--features",
        s(&days[0]),
        "--k",
        "2",
    ]);
    assert!(
        said.contains("20 items of 6 features, k = 2") && said.contains("(batch \"day1\")"),
        "{said}"
    );
    let said = ok(&[
        "archive",
        "rank",
        "--archive",
        s(&archive),
        "--features",
        s(&days[1]),
        "--top",
        "3",
    ]);
    assert!(
        said.contains("batch \"day2\": 20 items ranked against 20 archive items"),
        "{said}"
    );
    assert!(said.contains("demud archive fold"), "{said}");
    let run = archive.join("runs/day2");
    assert!(run.join("report/index.html").is_file());
    let direct = dir.join("direct");
    ok(&[
        "discover",
        "--features",
        s(&days[1]),
        "--prior",
        s(&days[0]),
        "--k",
        "2",
        "--out",
        s(&direct),
        "--quiet",
    ]);
    assert_eq!(selected_ids(&run), selected_ids(&direct));
    // The top item printed is the run's first selection.
    let first = &selected_ids(&run)[0];
    assert!(said
        .lines()
        .any(|l| l.trim_start().starts_with("1 ") && l.contains(first.as_str())));

    let status = ok(&["archive", "status", "--archive", s(&archive)]);
    assert!(status.contains("pending  day2"), "{status}");
    let said = ok(&[
        "archive",
        "fold",
        "--archive",
        s(&archive),
        "--name",
        "day2",
    ]);
    assert!(
        said.contains("the archive holds 40 items in 2 batches"),
        "{said}"
    );

    // Day 3 against days 1 and 2, with the top two reviewed as seen.
    let both = dir.join("both.csv");
    let mut text = std::fs::read_to_string(&days[0]).unwrap();
    text += std::fs::read_to_string(&days[1])
        .unwrap()
        .split_once('\n')
        .unwrap()
        .1;
    std::fs::write(&both, text).unwrap();
    ok(&[
        "archive",
        "rank",
        "--archive",
        s(&archive),
        "--features",
        s(&days[2]),
    ]);
    let direct = dir.join("direct3");
    ok(&[
        "discover",
        "--features",
        s(&days[2]),
        "--prior",
        s(&both),
        "--k",
        "2",
        "--out",
        s(&direct),
        "--quiet",
    ]);
    let ranked = selected_ids(&archive.join("runs/day3"));
    assert_eq!(ranked, selected_ids(&direct));
    let seen = dir.join("seen.txt");
    std::fs::write(&seen, format!("{}\n{}\n", ranked[0], ranked[1])).unwrap();
    let again = dir.join("again");
    ok(&[
        "archive",
        "rank",
        "--archive",
        s(&archive),
        "--features",
        s(&days[2]),
        "--seen",
        s(&seen),
        "--out",
        s(&again),
    ]);
    let after = selected_ids(&again);
    assert_eq!(after.len(), 18);
    assert!(!after.contains(&ranked[0]) && !after.contains(&ranked[1]));
    let record = std::fs::read_to_string(again.join("run.json")).unwrap();
    assert!(record.contains("\"seen\""), "{record}");
}

#[test]
fn refusals_leave_the_archive_as_it_was() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let archive = dir.join("archive");
    let day1 = day_csv(dir, 1, 12);
    let day2 = day_csv(dir, 2, 12);
    ok(&[
        "archive",
        "init",
        "--archive",
        s(&archive),
        "--features",
        s(&day1),
        "--k",
        "2",
    ]);
    ok(&[
        "archive",
        "rank",
        "--archive",
        s(&archive),
        "--features",
        s(&day2),
    ]);
    ok(&[
        "archive",
        "fold",
        "--archive",
        s(&archive),
        "--name",
        "day2",
    ]);
    let before = std::fs::read(archive.join("archive.json")).unwrap();

    let err = fails(&[
        "archive",
        "fold",
        "--archive",
        s(&archive),
        "--name",
        "day2",
    ]);
    assert!(err.contains("folded into the archive already"), "{err}");
    let err = fails(&[
        "archive",
        "rank",
        "--archive",
        s(&archive),
        "--features",
        s(&day2),
    ]);
    assert!(err.contains("already in the archive"), "{err}");
    let err = fails(&[
        "archive",
        "rank",
        "--archive",
        s(&archive),
        "--features",
        s(&day2),
        "--name",
        "copy",
    ]);
    assert!(
        err.contains("features of batch \"day2\", folded already"),
        "{err}"
    );
    let narrow = dir.join("narrow.csv");
    std::fs::write(&narrow, "id,a,b\nx,1,2\ny,3,4\n").unwrap();
    let err = fails(&[
        "archive",
        "rank",
        "--archive",
        s(&archive),
        "--features",
        s(&narrow),
    ]);
    assert!(
        err.contains("2 features per item, the archive's items have 6"),
        "{err}"
    );
    let err = fails(&[
        "archive",
        "rank",
        "--archive",
        s(dir),
        "--features",
        s(&day2),
    ]);
    assert!(err.contains("not an archive folder"), "{err}");
    let err = fails(&[
        "archive",
        "init",
        "--archive",
        s(&archive),
        "--features",
        s(&day1),
        "--k",
        "2",
    ]);
    assert!(err.contains("not empty"), "{err}");
    let err = fails(&[
        "archive",
        "fold",
        "--archive",
        s(&archive),
        "--name",
        "day9",
    ]);
    assert!(err.contains("no pending batch \"day9\""), "{err}");
    assert_eq!(std::fs::read(archive.join("archive.json")).unwrap(), before);
    assert!(err.lines().count() == 1, "{err}");
}

/// A small copy of the MSL surface data set's layout: `images/`, a list per split with
/// class numbers, `class_map.csv`.
fn msl_copy(dir: &Path) -> PathBuf {
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let mut train = String::new();
    let mut test = String::new();
    for i in 0..14 {
        let name = format!("{:04}MR{:010}_DRCL.JPG", i, i * 13);
        let class = i % 2;
        // Two looks: a dark gradient (class 0) and a bright disc (class 1); the last test
        // image is striped, unlike anything in the archive.
        let img = image::RgbImage::from_fn(48, 40, |x, y| {
            let v = match (class, i) {
                (_, 13) => ((x / 4) % 2) as u8 * 230,
                (0, _) => (x * 3 + y + i * 2) as u8,
                _ => {
                    let (dx, dy) = (x as i32 - 24, y as i32 - 20);
                    if dx * dx + dy * dy < 120 + i as i32 {
                        240
                    } else {
                        30
                    }
                }
            };
            image::Rgb([v, v / 2 + 10, 255 - v])
        });
        img.save_with_format(images.join(&name), image::ImageFormat::Jpeg)
            .unwrap();
        let line = format!("{name} {class}\n");
        if i < 10 {
            train += &line
        } else {
            test += &line
        }
    }
    std::fs::write(dir.join("train-set-v2.1.txt"), train).unwrap();
    std::fs::write(dir.join("test-set-v2.1.txt"), test).unwrap();
    std::fs::write(dir.join("class_map.csv"), "0,ground\n1,sun\n").unwrap();
    images
}

#[test]
fn the_msl_layout_goes_through_the_archive_network() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let images = msl_copy(dir);
    let archive = dir.join("archive");
    let map = dir.join("class_map.csv");
    let said = ok(&[
        "archive",
        "init",
        "--archive",
        s(&archive),
        "--images",
        s(&images),
        "--list",
        s(&dir.join("train-set-v2.1.txt")),
        "--class-map",
        s(&map),
        "--name",
        "train",
        "--k",
        "3",
        "--quiet",
    ]);
    assert!(said.contains("features efficientnet-lite0:pool"), "{said}");
    let said = ok(&[
        "archive",
        "rank",
        "--archive",
        s(&archive),
        "--images",
        s(&images),
        "--list",
        s(&dir.join("test-set-v2.1.txt")),
        "--class-map",
        s(&map),
        "--name",
        "test",
        "--top",
        "2",
        "--quiet",
    ]);
    // The striped image, unlike anything seen, comes first; labels are the class names.
    assert!(said.contains("   1  "), "{said}");
    let first = said
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap();
    assert!(first.contains("0013MR"), "{said}");
    assert!(
        said.contains("(ground)") || said.contains("(sun)"),
        "{said}"
    );
    let run = archive.join("runs/test");
    assert!(run.join("maps/maps.json").is_file());
    let report = std::fs::read_to_string(run.join("report/index.html")).unwrap();
    assert!(report.contains("0013MR"));
    // A batch must be extracted as the archive's was: its features alone are refused.
    let npy = dir.join("other.npy");
    ndarray_npy::write_npy(&npy, &ndarray::Array2::<f32>::ones((2, 1280))).unwrap();
    std::fs::write(dir.join("other.items.csv"), "id\na\nb\n").unwrap();
    let err = fails(&[
        "archive",
        "rank",
        "--archive",
        s(&archive),
        "--features",
        s(&npy),
    ]);
    assert!(err.contains("no extraction record"), "{err}");
}
