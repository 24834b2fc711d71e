//! criterion benches of the header address rewrite on generated messages.
//!
//! `cargo bench --bench rewrite`. Throughput is declared in bytes of whole messages, so criterion
//! prints MB/s. Scenarios: `pass_through` (the corpus messages with nothing to rewrite; target
//! ≥ 1 GB/s on one core), `corpus` (the corpus as generated, which carries some X.500 and
//! adatum.com addresses), `x500` (each message gets an extra Cc field with an `EX:` DN and an
//! IMCEAEX address; target ≥ 200 MB/s) and `domain` (the corpus's own example.com addresses mapped
//! to contoso.com). Only the header section is read, so MB/s grows with message size: the time per
//! message (criterion's `time` / message count) is the figure to compare across corpora. Before each scenario it prints how many messages change, outside the timing.
//! `--noplot` where no fonts are installed (plotters panics without them).

use criterion::{criterion_main, Criterion, Throughput};
use cutover_engine::transform::address_rewrite::{AddressRewriter, Directory, DomainMap, Rewrite};
use cutover_harness::corpus::{generate_mailbox, CorpusSpec};
use std::hint::black_box;

const LDIF: &str = "dn: CN=Joe\r\nlegacyExchangeDN: /o=ADATUM/ou=Exchange Administrative Group \
(FYDIBOHF23SPDLT)/cn=Recipients/cn=joe\r\nproxyAddresses: SMTP:joe@adatum.com\r\n";

const X500_CC: &[u8] = b"Cc: Joe Smith <EX:/O=ADATUM/OU=EXCHANGE ADMINISTRATIVE GROUP \
(FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=JOE>,\r\n <IMCEAEX-_O=ADATUM_OU=EXCHANGE+20ADMINISTRATIVE+20GROUP\
+20+28FYDIBOHF23SPDLT+29_CN=RECIPIENTS_CN=JOE@adatum.com>\r\n";

/// One mailbox of the demo's size distribution (capped at 2 MB a message to keep memory small).
fn messages() -> Vec<Vec<u8>> {
    let spec = CorpusSpec {
        mailboxes: 1,
        messages_per_mailbox: 300,
        max_size: 2_000_000,
        ..CorpusSpec::default()
    };
    generate_mailbox(&spec, 0)
        .folders
        .into_iter()
        .flat_map(|f| f.messages)
        .map(|m| m.body.to_vec())
        .collect()
}

fn rewriter(domains: &[(&str, &str)]) -> AddressRewriter {
    let directory = Directory::from_ldif(LDIF, "bench").expect("bench LDIF parses");
    let domains: DomainMap = domains.iter().copied().collect();
    AddressRewriter::new(directory, domains, false)
}

fn bench(c: &mut Criterion, name: &str, rewriter: &AddressRewriter, messages: &[Vec<u8>]) {
    let changed = messages
        .iter()
        .filter(|m| matches!(rewriter.rewrite(m), Rewrite::Changed { .. }))
        .count();
    println!(
        "rewrite/{name}: {changed} of {} messages change",
        messages.len()
    );
    let bytes: usize = messages.iter().map(Vec::len).sum();
    let mut group = c.benchmark_group("rewrite");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            for message in messages {
                black_box(rewriter.rewrite(black_box(message)));
            }
        })
    });
    group.finish();
}

fn rewrite_bench(c: &mut Criterion) {
    let plain = messages();
    let with_x500: Vec<Vec<u8>> = plain.iter().map(|m| [X500_CC, m].concat()).collect();
    let mapped = rewriter(&[("adatum.com", "contoso.com")]);
    // The corpus itself carries some X.500, IMCEA and adatum.com addresses: the pass-through
    // scenario keeps only the messages with nothing to rewrite.
    let untouched: Vec<Vec<u8>> = plain
        .iter()
        .filter(|m| matches!(mapped.rewrite(m), Rewrite::Unchanged { .. }))
        .cloned()
        .collect();
    bench(c, "pass_through", &mapped, &untouched);
    bench(c, "corpus", &mapped, &plain);
    bench(c, "x500", &mapped, &with_x500);
    bench(
        c,
        "domain",
        &rewriter(&[("example.com", "contoso.com")]),
        &plain,
    );
}

// criterion's macro generates an undocumented pub fn.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::rewrite_bench);
}
criterion_main!(group::benches);
