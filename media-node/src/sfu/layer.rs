//! Layer allocation: which simulcast layer each of a subscriber's video
//! subscriptions gets, from the subscriber's bandwidth estimate and the size
//! of its tiles. Pure: no str0m, no time.
//!
//! Order of service: higher `priority` first (screen share, then the active
//! speaker, then tiles by area). Every visible video first gets its lowest
//! layer while the budget lasts; what does not fit is paused, lowest
//! priority first. Audio is never cut here: the caller reserves it from the
//! budget before asking. Then upgrades go round-robin, one layer at a time,
//! up to the smallest layer tall enough for the tile.

/// One layer of a published video, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerInfo {
    /// Measured bitrate in bits per second (0 while unmeasured).
    pub bitrate: u64,
    /// Frame height in pixels, once a keyframe showed it.
    pub height: Option<u32>,
    /// Whether packets of this layer arrive now.
    pub active: bool,
}

/// What one subscription asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Want {
    /// The track's layers, lowest first.
    pub layers: Vec<LayerInfo>,
    /// Height of the tile in device pixels; 0 means hidden.
    pub tile_height: u32,
    /// Higher is served first.
    pub priority: u32,
}

/// The bitrate assumed for an active layer not measured yet.
const UNMEASURED_BPS: u64 = 150_000;

fn cost(l: &LayerInfo) -> u64 {
    if l.bitrate == 0 {
        UNMEASURED_BPS
    } else {
        l.bitrate
    }
}

/// The index of the layer `want` would like with unlimited bandwidth.
pub fn ideal(want: &Want) -> Option<usize> {
    if want.tile_height == 0 {
        return None;
    }
    let active: Vec<usize> = (0..want.layers.len())
        .filter(|&i| want.layers[i].active)
        .collect();
    let top = *active.last()?;
    // Layers of unknown height are assumed to halve in height per step down.
    let top_height = want.layers[top].height.unwrap_or(720);
    let height = |i: usize| -> u32 {
        want.layers[i]
            .height
            .unwrap_or_else(|| top_height >> (top - i).min(31))
    };
    active
        .iter()
        .copied()
        .find(|&i| height(i) >= want.tile_height)
        .or(Some(top))
}

/// Allocates layers within `budget` bits per second: one entry per want,
/// `None` for paused (hidden or unaffordable).
pub fn allocate(budget: u64, wants: &[Want]) -> Vec<Option<usize>> {
    let mut order: Vec<usize> = (0..wants.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(wants[i].priority));
    let ideals: Vec<Option<usize>> = wants.iter().map(ideal).collect();
    let mut chosen: Vec<Option<usize>> = vec![None; wants.len()];
    let mut left = budget;
    for &i in &order {
        let Some(target) = ideals[i] else { continue };
        let Some(lowest) = (0..=target).find(|&l| wants[i].layers[l].active) else {
            continue;
        };
        let c = cost(&wants[i].layers[lowest]);
        if c <= left {
            left -= c;
            chosen[i] = Some(lowest);
        }
    }
    loop {
        let mut upgraded = false;
        for &i in &order {
            let (Some(cur), Some(target)) = (chosen[i], ideals[i]) else {
                continue;
            };
            let Some(next) = (cur + 1..=target).find(|&l| wants[i].layers[l].active) else {
                continue;
            };
            let extra = cost(&wants[i].layers[next]).saturating_sub(cost(&wants[i].layers[cur]));
            if extra <= left {
                left -= extra;
                chosen[i] = Some(next);
                upgraded = true;
            }
        }
        if !upgraded {
            return chosen;
        }
    }
}

/// The bits per second an allocation from [`allocate`] sends.
pub fn rate(wants: &[Want], chosen: &[Option<usize>]) -> u64 {
    wants
        .iter()
        .zip(chosen)
        .filter_map(|(w, c)| Some(cost(w.layers.get((*c)?)?)))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three(active: [bool; 3]) -> Vec<LayerInfo> {
        [(150_000, 180), (500_000, 360), (1_500_000, 720)]
            .iter()
            .zip(active)
            .map(|(&(bitrate, h), active)| LayerInfo {
                bitrate,
                height: Some(h),
                active,
            })
            .collect()
    }

    fn want(tile_height: u32, priority: u32) -> Want {
        Want {
            layers: three([true; 3]),
            tile_height,
            priority,
        }
    }

    #[test]
    fn rate_sums_the_chosen_layers() {
        let wants = [want(720, 1), want(180, 5), want(0, 3)];
        let chosen = allocate(10_000_000, &wants);
        assert_eq!(rate(&wants, &chosen), 1_500_000 + 150_000);
        assert_eq!(rate(&wants, &[None, None, None]), 0);
    }

    #[test]
    fn tile_size_picks_the_smallest_layer_tall_enough() {
        assert_eq!(allocate(10_000_000, &[want(100, 0)]), vec![Some(0)]);
        assert_eq!(allocate(10_000_000, &[want(300, 0)]), vec![Some(1)]);
        assert_eq!(allocate(10_000_000, &[want(700, 0)]), vec![Some(2)]);
        assert_eq!(allocate(10_000_000, &[want(2000, 0)]), vec![Some(2)]);
        assert_eq!(allocate(10_000_000, &[want(0, 0)]), vec![None]);
    }

    #[test]
    fn little_bandwidth_means_low_layers_then_pauses_by_priority() {
        let wants = [want(720, 1), want(720, 5), want(720, 3)];
        assert_eq!(
            allocate(10_000_000, &wants),
            vec![Some(2), Some(2), Some(2)]
        );
        // 300 kbit/s: two lowest layers fit; the lowest priority is paused.
        assert_eq!(allocate(300_000, &wants), vec![None, Some(0), Some(0)]);
        // 800 kbit/s: all three low, then the top priority upgrades first.
        assert_eq!(allocate(800_000, &wants), vec![Some(0), Some(1), Some(0)]);
        assert_eq!(allocate(100_000, &wants), vec![None, None, None]);
    }

    #[test]
    fn inactive_layers_are_skipped() {
        let w = Want {
            layers: three([true, false, false]),
            tile_height: 720,
            priority: 0,
        };
        assert_eq!(allocate(10_000_000, &[w]), vec![Some(0)]);
        let w = Want {
            layers: three([false, false, false]),
            tile_height: 720,
            priority: 0,
        };
        assert_eq!(allocate(10_000_000, &[w]), vec![None]);
    }

    #[test]
    fn unknown_heights_halve_per_layer() {
        let mut w = want(200, 0);
        for l in &mut w.layers {
            l.height = None;
        }
        // Assumed 180, 360, 720: 200 needs the middle one.
        assert_eq!(ideal(&w), Some(1));
    }
}
