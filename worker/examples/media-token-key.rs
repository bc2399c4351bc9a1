//! Prints the public key media nodes need (`token_public_key`) for a
//! `MEDIA_TOKEN_SEED`: `cargo run -p worker-app --example media-token-key -- <seed hex>`.

fn main() {
    let Some(seed) = std::env::args().nth(1) else {
        eprintln!("usage: media-token-key <MEDIA_TOKEN_SEED as 64 hex characters>");
        std::process::exit(2);
    };
    match worker_app::media_token::public_key_hex(&seed) {
        Ok(key) => println!("{key}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
