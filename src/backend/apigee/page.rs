//! Cursor pagination of the list calls: `startKey` names the last item seen and is
//! *inclusive* (the next page starts with it), so every page after the first repeats one
//! item, which is dropped. Pure: the caller fetches, [`Pager`] decides.

/// Walks the pages of one list call.
#[derive(Debug)]
pub(crate) struct Pager {
    page_size: usize,
    start_key: Option<String>,
    done: bool,
    stalled: bool,
}

impl Pager {
    /// A pager asking `page_size` items per page.
    pub(crate) fn new(page_size: usize) -> Pager {
        Pager {
            page_size: page_size.max(1),
            start_key: None,
            done: false,
            stalled: false,
        }
    }

    /// The `startKey` of the next request (`Some(None)` for the first page), or `None` when
    /// there is nothing more to fetch.
    pub(crate) fn next(&self) -> Option<Option<&str>> {
        (!self.done).then_some(self.start_key.as_deref())
    }

    /// Takes one page as the platform returned it and gives back its new items (without the
    /// repeated `startKey` item). The walk ends when a page is shorter than the page size
    /// (counting the repeat), brings nothing new, or does not advance the cursor.
    pub(crate) fn accept<T>(&mut self, mut items: Vec<T>, key: impl Fn(&T) -> &str) -> Vec<T> {
        let returned = items.len();
        if let (Some(start), Some(first)) = (self.start_key.as_deref(), items.first())
            && key(first) == start
        {
            items.remove(0);
        }
        match items.last().map(|i| key(i).to_string()) {
            // The cursor did not move: the server ignored `startKey`; these are repeats.
            Some(last) if Some(&last) == self.start_key.as_ref() => {
                self.done = true;
                self.stalled = true;
                items.clear();
            }
            Some(last) if returned >= self.page_size => self.start_key = Some(last),
            _ => self.done = true,
        }
        items
    }

    /// Whether the walk ended because the server did not move past a full page (it ignored
    /// `startKey`): what follows that page, if anything, was never seen.
    pub(crate) fn stalled(&self) -> bool {
        self.stalled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list of `n` keys served with an inclusive `startKey`, `size` per page.
    fn serve(all: &[String], start: Option<&str>, size: usize) -> Vec<String> {
        let from = start.map_or(0, |s| all.iter().position(|k| k == s).unwrap());
        all[from..].iter().take(size).cloned().collect()
    }

    fn walk(n: usize, size: usize) -> (Vec<String>, usize) {
        let all: Vec<String> = (0..n).map(|i| format!("k{i:05}")).collect();
        let mut pager = Pager::new(size);
        let (mut got, mut requests) = (Vec::new(), 0);
        while let Some(start) = pager.next() {
            let page = serve(&all, start, size);
            requests += 1;
            got.extend(pager.accept(page, |s| s.as_str()));
            assert!(requests < 1000, "runaway pagination");
        }
        assert_eq!(got, all, "every item exactly once, in order");
        (got, requests)
    }

    #[test]
    fn drops_the_inclusive_overlap() {
        assert_eq!(walk(10_000, 1000).1, 11);
        assert_eq!(walk(2_000, 1000).1, 3);
        assert_eq!(walk(300, 1000).1, 1);
        assert_eq!(walk(1000, 1000).1, 2, "a full page needs one more look");
        assert_eq!(walk(0, 1000).1, 1);
        assert_eq!(walk(7, 3).1, 4, "3 + 2 + 2 new, then the last item alone");
    }

    #[test]
    fn stops_when_the_cursor_does_not_move() {
        let mut pager = Pager::new(2);
        assert_eq!(pager.accept(vec!["a", "b"], |s| s), vec!["a", "b"]);
        assert_eq!(pager.next(), Some(Some("b")));
        // A server that ignores startKey returns the first page again: nothing new, stop.
        assert!(pager.accept(vec!["a", "b"], |s| s).is_empty());
        assert_eq!(pager.next(), None);
        assert!(
            pager.stalled(),
            "what follows the first page was never seen"
        );
    }

    #[test]
    fn keeps_the_first_item_when_the_server_is_exclusive() {
        let mut pager = Pager::new(2);
        pager.accept(vec!["a", "b"], |s| s);
        assert_eq!(pager.accept(vec!["c"], |s| s), vec!["c"]);
        assert_eq!(pager.next(), None);
        assert!(!pager.stalled());
    }
}
