//! A class hierarchy and the taxon distance between two classes: how many levels up from
//! the classes their nearest common ancestor is (0 for the same class, 1 for siblings, 2 for
//! classes that share only a grandparent, ...; one more than the deeper class's depth when
//! they share nothing).

use crate::error::{DemudError, Result};
use std::collections::HashMap;

/// The ancestors of every class, nearest first, indexed like the classes.
#[derive(Clone, Debug, PartialEq)]
pub struct Taxonomy {
    ancestors: Vec<Vec<String>>,
}

impl Taxonomy {
    /// The hierarchy of `classes` (in class-index order) from `table`: each entry a class
    /// name and its ancestors, nearest first. Every class must be in the table.
    pub fn for_classes(classes: &[String], table: &[(String, Vec<String>)]) -> Result<Self> {
        let by_name: HashMap<&str, &Vec<String>> =
            table.iter().map(|(c, a)| (c.as_str(), a)).collect();
        let ancestors = classes
            .iter()
            .map(|c| {
                by_name
                    .get(c.as_str())
                    .map(|a| (*a).clone())
                    .ok_or_else(|| {
                        DemudError::invalid(
                            "hierarchy",
                            format!("class '{c}' of the training labels is not in the hierarchy"),
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Taxonomy { ancestors })
    }

    /// Number of classes.
    pub fn n_classes(&self) -> usize {
        self.ancestors.len()
    }

    /// The taxon distance between classes `a` and `b` (see the module).
    pub fn distance(&self, a: usize, b: usize) -> usize {
        if a == b {
            return 0;
        }
        let (up_a, up_b) = (&self.ancestors[a], &self.ancestors[b]);
        // Nearest common ancestor: the first of a's ancestors that is also one of b's; the
        // distance is the larger number of steps up from either class.
        let common = up_a
            .iter()
            .enumerate()
            .find_map(|(i, x)| up_b.iter().position(|y| y == x).map(|j| i.max(j) + 1));
        common.unwrap_or(up_a.len().max(up_b.len()) + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn distances_in_a_small_tree() {
        // species -> genus -> family: oak and beech share the family, oak and holm-oak the
        // genus; fern shares nothing.
        let table = vec![
            ("oak".to_string(), s(&["Quercus", "Fagaceae"])),
            ("holm-oak".to_string(), s(&["Quercus", "Fagaceae"])),
            ("beech".to_string(), s(&["Fagus", "Fagaceae"])),
            ("fern".to_string(), s(&["Pteridium", "Dennstaedtiaceae"])),
        ];
        let t = Taxonomy::for_classes(&s(&["beech", "oak", "holm-oak", "fern"]), &table).unwrap();
        assert_eq!(t.distance(1, 1), 0);
        assert_eq!(t.distance(1, 2), 1);
        assert_eq!(t.distance(0, 1), 2);
        assert_eq!(t.distance(1, 0), 2);
        assert_eq!(t.distance(3, 0), 3);
        assert!(Taxonomy::for_classes(&s(&["pine"]), &table).is_err());
    }
}
