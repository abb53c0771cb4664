//! The main job (filled in as the learner and compression passes land).
fn main() {
    println!("fasterai walkthrough: the learner and compression passes are being built.");
}
