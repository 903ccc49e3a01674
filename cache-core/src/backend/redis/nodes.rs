//! The masters of a cluster and their slots, from `CLUSTER NODES`.

/// The slot ranges a master serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Slots(Vec<(u16, u16)>);

impl Slots {
    pub fn contains(&self, slot: u16) -> bool {
        self.0
            .iter()
            .any(|&(first, last)| (first..=last).contains(&slot))
    }
}

/// The addresses of the masters that serve slots, and their slots, from `CLUSTER NODES`
/// output (slots being migrated, `[...]`, are left out).
pub(super) fn masters(nodes: &str) -> Vec<(String, u16, Slots)> {
    nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            let serves_slots = fields.len() > 8;
            let up = flags.split(',').all(|f| f != "fail" && f != "noaddr");
            if !(flags.split(',').any(|f| f == "master") && up && serves_slots) {
                return None;
            }
            // `ip:port@cport[,hostname]`
            let address = fields.get(1)?.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            let slots = fields[8..]
                .iter()
                .filter_map(|range| match range.split_once('-') {
                    Some((first, last)) => Some((first.parse().ok()?, last.parse().ok()?)),
                    None => range.parse().ok().map(|slot| (slot, slot)),
                })
                .collect();
            Some((host.to_owned(), port.parse().ok()?, Slots(slots)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::masters;

    #[test]
    fn masters_are_read_from_cluster_nodes() {
        let nodes = "\
07c3 127.0.0.1:30004@40004 slave e7d1 0 1426238317239 4 connected
67ed 127.0.0.1:30002@40002 master - 0 1426238316232 2 connected 5461-10922 [5460->-e7d1]
292f 127.0.0.1:30003@40003,host.example master - 0 1426238318243 3 connected 10923-16383
6ec2 127.0.0.1:30005@40005 master,fail - 1426238316232 0 5 disconnected
e7d1 127.0.0.1:30001@40001 myself,master - 0 0 1 connected 0-5460
";
        let found = masters(nodes);
        let addresses: Vec<(&str, u16)> = found
            .iter()
            .map(|(host, port, _)| (host.as_str(), *port))
            .collect();
        assert_eq!(
            addresses,
            [
                ("127.0.0.1", 30002),
                ("127.0.0.1", 30003),
                ("127.0.0.1", 30001)
            ]
        );
        let slots = &found[0].2;
        assert!(slots.contains(5461) && slots.contains(10922) && slots.contains(7000));
        assert!(!slots.contains(5460) && !slots.contains(10923));
    }
}
