//! `grin`: the command-line front end. Its subcommands (render, batch, trace, inspect)
//! arrive with the renderer; until then it reports its version and usage.

fn main() {
    let arg = std::env::args().nth(1);
    match arg.as_deref() {
        None | Some("-h" | "--help") => {
            println!(
                "grin {}\nusage: grin <command>\n",
                env!("CARGO_PKG_VERSION")
            );
            println!("No commands are available yet: the renderer is under construction.");
            println!("See README.md for what runs today.");
        }
        Some("-V" | "--version") => println!("grin {}", env!("CARGO_PKG_VERSION")),
        Some(other) => {
            eprintln!("grin: unknown command '{other}' (try --help)");
            std::process::exit(2);
        }
    }
}
