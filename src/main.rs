fn main() {
    println!("xenpool");
}
