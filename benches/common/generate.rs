//! The generated config the benchmarks share.

use std::fmt::Write as _;

/// A large valid config: `devs` developers, `products` products, `apps` apps, each app with
/// one (default) key granted one product.
pub fn config(devs: usize, products: usize, apps: usize) -> String {
    let mut s = String::with_capacity(apps * 300);
    s.push_str("version: 1\nowner: bench\ndevelopers:\n");
    for d in 0..devs {
        let _ = write!(
            s,
            "  - email: dev{d}@example.com\n    firstName: Dev\n    lastName: Number{d}\n    attributes: {{team: t{}}}\n",
            d % 17
        );
    }
    s.push_str("products:\n");
    for p in 0..products {
        let _ = write!(
            s,
            "  - name: product-{p}\n    displayName: Product {p}\n    approvalType: auto\n    environments: [prod]\n    apiResources: [\"/p{p}/**\"]\n    scopes: [p{p}.read, p{p}.write]\n    quota: {{limit: 1000, interval: 1, timeUnit: minute}}\n"
        );
    }
    s.push_str("apps:\n");
    for a in 0..apps {
        let p = a % products;
        let _ = write!(
            s,
            "  - name: app-{a}\n    developer: dev{}@example.com\n    displayName: App {a}\n    callbackUrl: https://app{a}.example.com/callback\n    apiProducts: [product-{p}]\n    scopes: [p{p}.read]\n    keyExpiresIn: 90d\n    attributes: {{tier: gold}}\n",
            a % devs
        );
    }
    s
}

/// The config of [`config`] split into files a directory can hold, none larger than the
/// reader's default limits allow: the developers and products in the first, then the apps,
/// `per_file` to a file. `(name, text)` pairs.
#[allow(dead_code)]
pub fn config_files(
    devs: usize,
    products: usize,
    apps: usize,
    per_file: usize,
) -> Vec<(String, String)> {
    let all = config(devs, products, apps);
    let (head, apps_part) = all.split_once("apps:\n").expect("apps section");
    let mut files = vec![("00-base.yaml".to_string(), head.to_string())];
    let entries: Vec<&str> = apps_part
        .split_inclusive('\n')
        .collect::<Vec<_>>()
        .chunk_by(|_, b| !b.starts_with("  - "))
        .map(|lines| {
            let start = lines[0].as_ptr() as usize - apps_part.as_ptr() as usize;
            let len: usize = lines.iter().map(|l| l.len()).sum();
            &apps_part[start..start + len]
        })
        .collect();
    for (i, chunk) in entries.chunks(per_file.max(1)).enumerate() {
        let mut s = String::from("version: 1\napps:\n");
        for e in chunk {
            s.push_str(e);
        }
        files.push((format!("apps-{i:03}.yaml"), s));
    }
    files
}
