//! A set of risk classes as a bit mask: no allocation while rules add risk and test it.

use crate::domain::risk::RiskClass;

/// A set of [`RiskClass`]es.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RiskSet(u32);

impl RiskSet {
    fn bit(class: RiskClass) -> u32 {
        1 << class as u32
    }

    /// The set holding `classes`.
    pub fn of(classes: &[RiskClass]) -> Self {
        Self(classes.iter().fold(0, |m, &c| m | Self::bit(c)))
    }

    /// Whether the set is empty.
    #[inline]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether the sets share a class.
    #[inline]
    pub fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// Both sets' classes.
    #[inline]
    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The classes, sorted.
    pub fn to_vec(self) -> Vec<RiskClass> {
        let mut all = RiskClass::ALL;
        all.sort();
        all.into_iter()
            .filter(|&c| self.0 & Self::bit(c) != 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::risk::union;
    use RiskClass::*;

    #[test]
    fn behaves_like_a_sorted_set() {
        let cases = [
            (vec![], vec![]),
            (vec![Production, Production], vec![]),
            (vec![ExternalComms, Destructive], vec![Production]),
            (RiskClass::ALL.to_vec(), vec![Financial]),
        ];
        for (a, b) in cases {
            let set = RiskSet::of(&a).union(RiskSet::of(&b));
            assert_eq!(set.to_vec(), union(&a, &b), "{a:?} + {b:?}");
            assert_eq!(set.is_empty(), a.is_empty() && b.is_empty());
        }
        assert!(RiskSet::of(&[Production, Financial]).intersects(RiskSet::of(&[Financial])));
        assert!(!RiskSet::of(&[Production]).intersects(RiskSet::of(&[Financial])));
        assert!(!RiskSet::default().intersects(RiskSet::default()));
    }
}
