//! The plan as a graph of what waits on what: an item waits on the items it references and,
//! for a kind-level ordering, on a barrier node per kind (after the `n` items) that waits for
//! every item of the kind: n + m edges, where waiting on each item would be n × m.

use crate::engine::plan::Plan;

pub(super) struct Graph {
    /// the items (nodes `0..n`); the barriers follow
    pub(super) n: usize,
    /// per node, who waits on it
    dependants: Vec<Vec<usize>>,
    /// per node, how many of its dependencies have not ended
    waiting: Vec<usize>,
}

impl Graph {
    pub(super) fn of(plan: &Plan) -> Graph {
        let n = plan.items.len();
        let mut barriers: Vec<&str> = plan
            .items
            .iter()
            .flat_map(|it| it.after.iter().map(String::as_str))
            .collect();
        barriers.sort_unstable();
        barriers.dedup();
        let barrier = |kind: &str| n + barriers.binary_search(&kind).expect("a barrier per kind");
        let mut deps: Vec<Vec<usize>> = plan
            .items
            .iter()
            .map(|it| {
                let mut d: Vec<usize> = it
                    .edges
                    .iter()
                    .map(|e| e.to)
                    .chain(it.after.iter().map(|k| barrier(k)))
                    .collect();
                d.sort_unstable();
                d.dedup();
                d
            })
            .collect();
        for kind in &barriers {
            deps.push(
                (0..n)
                    .filter(|&i| plan.items[i].source.kind == *kind)
                    .collect(),
            );
        }
        let waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
        let mut dependants: Vec<Vec<usize>> = vec![vec![]; deps.len()];
        for (i, d) in deps.iter().enumerate() {
            for &j in d {
                dependants[j].push(i);
            }
        }
        Graph {
            n,
            dependants,
            waiting,
        }
    }

    /// Whether node `i` is a kind's barrier rather than an item.
    pub(super) fn is_barrier(&self, i: usize) -> bool {
        i >= self.n
    }

    /// The nodes ready to start, highest first: of the ready items, the one with the longest
    /// chain of dependants after it starts first (what ends a run is its longest chain, and
    /// short leaves, tags say, fill the gaps).
    pub(super) fn ready(&self) -> Ready {
        let mut ready = Ready::new(heights(self.n, &self.dependants));
        (0..self.waiting.len())
            .filter(|&i| self.waiting[i] == 0)
            .for_each(|i| ready.push(i));
        ready
    }

    /// Node `i` has ended: who waited only on it is ready.
    pub(super) fn release(&mut self, i: usize, ready: &mut Ready) {
        for &d in &self.dependants[i] {
            self.waiting[d] -= 1;
            if self.waiting[d] == 0 {
                ready.push(d);
            }
        }
    }
}

/// Per node, the most items on a chain of dependants from it to the end (itself included;
/// the first `n` nodes are items, the rest kind barriers, which weigh nothing). A node on a
/// cycle counts the cycle once; such nodes never become ready anyway.
fn heights(n: usize, dependants: &[Vec<usize>]) -> Vec<u32> {
    const UNSEEN: u32 = u32::MAX;
    const OPEN: u32 = u32::MAX - 1;
    let mut height = vec![UNSEEN; dependants.len()];
    // Depth-first without recursion: a plan's chains can be long.
    for root in 0..dependants.len() {
        if height[root] != UNSEEN {
            continue;
        }
        let mut stack = vec![(root, 0usize)];
        height[root] = OPEN;
        while let Some((v, next)) = stack.pop() {
            if let Some(&d) = dependants[v].get(next) {
                stack.push((v, next + 1));
                if height[d] == UNSEEN {
                    height[d] = OPEN;
                    stack.push((d, 0));
                }
                continue;
            }
            let below = dependants[v]
                .iter()
                .map(|&d| if height[d] >= OPEN { 0 } else { height[d] })
                .max()
                .unwrap_or(0);
            height[v] = below + u32::from(v < n);
        }
    }
    height
}

/// The ready nodes, highest first (ties: the plan's order).
pub(super) struct Ready {
    height: Vec<u32>,
    heap: std::collections::BinaryHeap<(u32, std::cmp::Reverse<usize>)>,
}

impl Ready {
    fn new(height: Vec<u32>) -> Self {
        Ready {
            height,
            heap: Default::default(),
        }
    }
    pub(super) fn push(&mut self, i: usize) {
        self.heap.push((self.height[i], std::cmp::Reverse(i)));
    }
    pub(super) fn pop(&mut self) -> Option<usize> {
        self.heap.pop().map(|(_, std::cmp::Reverse(i))| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_chain_of_dependants_starts_first() {
        // 0 <- 1 <- 2 <- 3 (a chain), 4 alone, 5 <- barrier 6 <- 3; a cycle 7 <-> 8.
        let dependants = vec![
            vec![1],
            vec![2],
            vec![3],
            vec![],
            vec![],
            vec![6],
            vec![3],
            vec![8],
            vec![7],
        ];
        let h = heights(6, &dependants);
        assert_eq!(&h[..7], &[4, 3, 2, 1, 1, 2, 1]);
        // The barrier (6) weighs nothing; 8 is not an item here, so 7 counts itself once.
        assert_eq!(h[6], 1);
        assert!(h[7] <= 2 && h[8] <= 2, "a cycle is counted once: {h:?}");
        let mut ready = Ready::new(h.clone());
        for i in [4, 5, 0] {
            ready.push(i);
        }
        assert_eq!(ready.pop(), Some(0));
        assert_eq!(ready.pop(), Some(5));
        assert_eq!(ready.pop(), Some(4));
        assert_eq!(ready.pop(), None);
        // Ties go in the plan's order.
        let flat = vec![1; 3];
        let mut ready = Ready::new(flat);
        for i in [2, 0, 1] {
            ready.push(i);
        }
        assert_eq!(
            (ready.pop(), ready.pop(), ready.pop()),
            (Some(0), Some(1), Some(2))
        );
    }
}
