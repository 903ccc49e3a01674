//! What the backplane carries ([`super::backplane`]), and on which channel.

/// The backplane's channel of `namespace`: one per namespace, shared by every process on
/// it. Every Redis cache announces its invalidations there, with a tier or without: the
/// tiers of the others depend on it.
pub(crate) fn channel(namespace: &str) -> String {
    format!("{namespace}:!backplane")
}

/// What the backplane carries.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Message<'a> {
    /// These generation keys were removed or replaced.
    Forget(Vec<&'a str>),
    /// Generations of every scope were removed (a whole prefix; a tag in every scope).
    ForgetAll,
    /// A heartbeat: the process that sent it, the round of its subscriptions, the node it
    /// was published at (by index) and when it was sent (on the sender's clock).
    Heartbeat {
        from: &'a str,
        round: u64,
        node: usize,
        sent: u64,
    },
}

impl Message<'_> {
    /// The bytes of this message.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Message::Forget(keys) => {
                let mut out =
                    Vec::with_capacity(1 + keys.iter().map(|k| k.len() + 4).sum::<usize>());
                out.push(b'k');
                for key in keys {
                    let len = u32::try_from(key.len()).unwrap_or(u32::MAX);
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(key.as_bytes());
                }
                out
            }
            Message::ForgetAll => b"*".to_vec(),
            Message::Heartbeat {
                from,
                round,
                node,
                sent,
            } => format!("h{from} {round} {node} {sent}").into_bytes(),
        }
    }

    /// The message in `bytes`; `None` if they are not one.
    pub fn decode(bytes: &[u8]) -> Option<Message<'_>> {
        let (&kind, mut rest) = bytes.split_first()?;
        match kind {
            b'*' if rest.is_empty() => Some(Message::ForgetAll),
            b'k' => {
                let mut keys = Vec::new();
                while !rest.is_empty() {
                    let (len, tail) = rest.split_first_chunk::<4>()?;
                    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
                    let key = tail.get(..len)?;
                    keys.push(std::str::from_utf8(key).ok()?);
                    rest = &tail[len..];
                }
                Some(Message::Forget(keys))
            }
            b'h' => {
                let text = std::str::from_utf8(rest).ok()?;
                let mut fields = text.split(' ');
                let from = fields.next()?;
                let round = fields.next()?.parse().ok()?;
                let node = fields.next()?.parse().ok()?;
                let sent = fields.next()?.parse().ok()?;
                fields.next().is_none().then_some(Message::Heartbeat {
                    from,
                    round,
                    node,
                    sent,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Message;

    #[test]
    fn messages_round_trip() {
        for message in [
            Message::Forget(vec!["ns:a:{x}", "", "ns:é\nb"]),
            Message::Forget(vec![]),
            Message::ForgetAll,
            Message::Heartbeat {
                from: "0123-abcd",
                round: 3,
                node: 2,
                sent: 123_456_789,
            },
        ] {
            assert_eq!(Message::decode(&message.encode()), Some(message));
        }
        assert_eq!(Message::decode(b"k\0\0\0\x09short"), None);
        assert_eq!(Message::decode(b"h1 2 3"), None);
        assert_eq!(Message::decode(b""), None);
    }
}
