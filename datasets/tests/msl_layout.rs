//! The MSL surface data set's layout (Lu et al. 2018): images in one folder, `path label`
//! lines in train/val/test lists, class names in `class_map.csv`. Tested on a small generated
//! copy of that layout.

use demud_datasets::images::ImageCollection;
use std::path::Path;

/// `images/` with `n` small JPEGs, a list of them with class numbers, and a class map.
fn msl_copy(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir.join("images")).unwrap();
    let mut list = String::new();
    for i in 0..n {
        let name = format!("{:04}ML{:010}_DRCL.JPG", i, i * 7);
        image::RgbImage::from_pixel(8, 6, image::Rgb([i as u8 * 20, 40, 90]))
            .save_with_format(dir.join("images").join(&name), image::ImageFormat::Jpeg)
            .unwrap();
        list.push_str(&format!("{name} {}\n", i % 3));
    }
    std::fs::write(dir.join("train-set-v2.1.txt"), list).unwrap();
    std::fs::write(dir.join("class_map.csv"), "0,apxs\n1,drill holes\n2,sun\n").unwrap();
}

#[test]
fn an_msl_list_names_its_images_and_their_classes() {
    let tmp = tempfile::tempdir().unwrap();
    msl_copy(tmp.path(), 7);
    let images = tmp.path().join("images");
    let list = tmp.path().join("train-set-v2.1.txt");
    let named = ImageCollection::from_list(&images, &list, Some(&tmp.path().join("class_map.csv")))
        .unwrap();
    assert_eq!(named.items.len(), 7);
    assert_eq!(named.items[1].id, "0001ML0000000007_DRCL.JPG");
    let labels: Vec<_> = named
        .items
        .iter()
        .map(|i| i.label.clone().unwrap())
        .collect();
    assert_eq!(&labels[..4], ["apxs", "drill holes", "sun", "apxs"]);
    // Without the map the class numbers are the labels; every image decodes.
    let numbered = ImageCollection::from_list(&images, &list, None).unwrap();
    assert_eq!(numbered.items[2].label.as_deref(), Some("2"));
    assert!(numbered.load(&numbered.items[6]).is_ok());
}

#[test]
fn a_bad_msl_list_is_refused_naming_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    msl_copy(tmp.path(), 3);
    let images = tmp.path().join("images");
    let list = tmp.path().join("val-set-v2.1.txt");
    let map = tmp.path().join("class_map.csv");
    let refused = |text: &str, map: Option<&Path>| {
        std::fs::write(&list, text).unwrap();
        ImageCollection::from_list(&images, &list, map)
            .unwrap_err()
            .to_string()
    };
    let first = "0000ML0000000000_DRCL.JPG";
    let err = refused(&format!("{first} 0\n\nmissing.JPG 1\n"), None);
    assert!(
        err.contains("line 3") && err.contains("does not exist"),
        "{err}"
    );
    let err = refused(&format!("{first} 0 extra\n"), None);
    assert!(err.contains("line 1") && err.contains("3 fields"), "{err}");
    let err = refused(&format!("{first} 7\n"), Some(&map));
    assert!(err.contains("class \"7\" is not in the class map"), "{err}");
    let err = refused(&format!("{first} 0\n{first} 1\n"), None);
    assert!(
        err.contains("line 2") && err.contains("listed twice"),
        "{err}"
    );
    let err = refused("../outside.JPG 0\n", None);
    assert!(err.contains("not a path inside"), "{err}");
    let err = refused("\n\n", None);
    assert!(err.contains("names no images"), "{err}");
}
