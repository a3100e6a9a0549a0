//! "Did you mean" hints: the nearest known name to a misspelt one.

/// How many names a hint offers at most.
const MAX_SUGGESTIONS: usize = 3;

/// The "Did you mean ...?" line for a misspelt `wanted` among `names`: up to three of the
/// closest names (by edit distance, then those `wanted` extends or that extend it, then name),
/// in Nix's words ("Did you mean bar?", "Did you
/// mean one of hello or hallo?"), or nothing when no name is close. A name of which `wanted`
/// is the first `-`-separated part (`fd` for `fd-find`) counts as one edit away.
pub(crate) fn suggest<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Option<String> {
    let limit = if wanted.chars().count() <= 2 {
        1
    } else {
        2.max(wanted.len() / 3)
    };
    let mut best: Vec<(usize, bool, &str)> = Vec::new();
    for n in names {
        if n == wanted {
            continue;
        }
        // Cheap bound first: the distance is at least the difference in length.
        let component = n.len() > wanted.len()
            && n.starts_with(wanted)
            && n.as_bytes().get(wanted.len()) == Some(&b'-');
        let d = if component {
            1
        } else if n.len().abs_diff(wanted.len()) > limit {
            continue;
        } else {
            levenshtein(wanted, n)
        };
        if d > limit {
            continue;
        }
        // Among equally close names, one that `wanted` extends or that extends it first.
        let related = n.starts_with(wanted) || wanted.starts_with(n);
        best.push((d, !related, n));
        best.sort_unstable();
        best.truncate(MAX_SUGGESTIONS);
    }
    let names: Vec<&str> = best.iter().map(|(_, _, n)| *n).collect();
    match names.as_slice() {
        [] => None,
        [one] => Some(format!("Did you mean {one}?")),
        [init @ .., last] => Some(format!(
            "Did you mean one of {} or {last}?",
            init.join(", ")
        )),
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::suggest;

    #[test]
    fn the_closest_names_in_nix_words() {
        let names = ["hello", "hallo", "world"];
        assert_eq!(
            suggest("helo", names.into_iter()).as_deref(),
            Some("Did you mean one of hello or hallo?")
        );
        assert_eq!(
            suggest("bax", ["foo", "bar"].into_iter()).as_deref(),
            Some("Did you mean bar?")
        );
        assert_eq!(suggest("zzzzzz", names.into_iter()), None);
        let many = ["vifm", "vim", "vimb", "vims", "vime", "nvim"];
        assert_eq!(
            suggest("vimm", many.into_iter()).as_deref(),
            Some("Did you mean one of vim, vifm or vimb?")
        );
        // The first part of a Debian name.
        assert_eq!(
            suggest("fd", ["fd-find", "xfd", "fdupes"].into_iter()).as_deref(),
            Some("Did you mean one of fd-find or xfd?")
        );
    }
}
